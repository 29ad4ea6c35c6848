import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { IDaemonSet } from 'kubernetes-models/apps/v1';
import type { IConfigMap, IPod } from 'kubernetes-models/v1';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/serve/index.js';
import { REPO, removeTemp, tempDir } from '../serve/helpers.js';
import { defined, findDoc, loadManifest } from '../serve/sidecar-manifest.js';

/**
 * deploy/ as shipped: valid against the Kubernetes API schema (deploy/validate.mjs, also run by
 * .ci/run), one version everywhere, one socket group everywhere, and a sidecar without privilege.
 * That the manifest works is test/serve/sidecar-container.test.ts.
 */
const run = promisify(execFile);
const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const daemonset = loadManifest('deploy/daemonset.yaml');
const clientManifest = loadManifest('deploy/client-example.yaml');
const sidecarPod = defined(findDoc<IDaemonSet>(daemonset, 'DaemonSet', 'cgfreeze').spec?.template.spec, 'pod spec');
const sidecar = defined(sidecarPod.containers[0], 'sidecar container');
const clientPod = defined(findDoc<IPod>(clientManifest, 'Pod', 'cgfreeze-client-example').spec, 'client pod spec');
const client = defined(clientPod.containers[0], 'client container');
const dockerfile = readFileSync(join(REPO, 'deploy/Dockerfile'), 'utf8');
const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

/** Runs deploy/validate.mjs; its exit code and output. */
async function validate(files: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(REPO, 'deploy/validate.mjs'), ...files]);
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

describe('deploy/validate.mjs', () => {
  const tmp = tempDir();
  afterAll(() => removeTemp(tmp));

  it('accepts every document of deploy/*.yaml', async () => {
    const { code, out } = await validate([]);
    expect(out).toContain('daemonset.yaml: DaemonSet cgfreeze-system/cgfreeze: ok');
    expect(out).toContain('podmonitor.yaml: PodMonitor cgfreeze-system/cgfreeze: ok');
    expect(out).toContain('client-example.yaml: Pod cgfreeze-example/cgfreeze-client-example: ok');
    expect(code).toBe(0);
  });

  it('refuses a misspelt field, a wrong type and a kind it has no schema for', async () => {
    const bad = join(tmp, 'bad.yaml');
    const [ds] = readFileSync(join(REPO, 'deploy/daemonset.yaml'), 'utf8').split('\n---\n').slice(-1);
    writeFileSync(
      bad,
      [
        defined(ds, 'DaemonSet document').replace('readOnlyRootFilesystem: true', 'readOnlyRootFileSystem: true'),
        'apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec: { hostPID: "yes", containers: [{ name: c }] }',
        'apiVersion: example.com/v1\nkind: Thing\nmetadata: { name: t }',
      ].join('\n---\n'),
    );
    const { code, out } = await validate([bad]);
    expect(out).toContain('unknown field spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem');
    expect(out).toContain('Pod p: data/spec/hostPID must be boolean');
    expect(out).toContain('Thing t: no schema for example.com/v1 Thing');
    expect(code).toBe(1);
  });
});

describe('deploy/ as shipped', () => {
  it('names one image, cgfreeze-serve:<package version>, and that version everywhere', () => {
    const image = `cgfreeze-serve:${version}`;
    expect(sidecar.image).toBe(image);
    expect(client.image).toBe(image);
    expect(finalStage).toContain(`org.opencontainers.image.version="${version}"`);
    expect(dockerfile).toContain(`-t ${image} .`);
    for (const doc of [...daemonset, ...clientManifest]) {
      const template = (doc as IDaemonSet).spec?.template?.metadata?.labels;
      for (const labels of [doc.metadata.labels, template])
        expect(labels?.['app.kubernetes.io/version'] ?? version).toBe(version);
    }
  });

  it('runs node where both images have it, as the Dockerfile entrypoint does', () => {
    const entrypoint = JSON.parse(defined(/^ENTRYPOINT (.*)$/m.exec(finalStage)?.[1], 'ENTRYPOINT')) as string[];
    const node = entrypoint[0];
    expect(node).toBe('/usr/local/bin/node');
    expect(sidecar.readinessProbe?.exec?.command?.[0]).toBe(node);
    expect(sidecar.livenessProbe?.exec?.command?.[0]).toBe(node);
    expect(client.command?.[0]).toBe(node);
  });

  it('gives the socket one group: the sidecar and the client are in it, the policy names it', () => {
    const group = Number(sidecar.args?.find((a) => a.startsWith('--socket-group='))?.split('=')[1]);
    expect(sidecarPod.securityContext?.supplementalGroups).toContain(group);
    expect(clientPod.securityContext?.supplementalGroups).toContain(group);
    const configMap = findDoc<IConfigMap>(daemonset, 'ConfigMap', 'cgfreeze-policy');
    const policy = parsePolicy(JSON.parse(defined(configMap.data?.['policy.json'], 'policy.json')));
    expect(policy.rules.some((r) => r.callers.gids?.includes(group))).toBe(true);
    expect(parsePolicy(JSON.parse(readFileSync(join(REPO, 'deploy/policy.example.json'), 'utf8')))).toBeDefined();
  });

  it('keeps the sidecar unprivileged: no capability, no escalation, read-only root, no token', () => {
    expect(sidecar.securityContext).toMatchObject({
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(sidecar.securityContext?.capabilities?.add).toBeUndefined();
    expect(sidecarPod.automountServiceAccountToken).toBe(false);
    expect(clientPod.automountServiceAccountToken).toBe(false);
  });

  it("copies into the build stage every file that npm ci's own scripts run (install, prepare)", () => {
    const buildStage = dockerfile.slice(0, dockerfile.lastIndexOf('\nFROM '));
    const copied = buildStage
      .split('\n')
      .filter((l) => l.startsWith('COPY '))
      .flatMap((l) => l.slice('COPY '.length).split(/\s+/).slice(0, -1));
    const scripts = (
      JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    ).scripts;
    const needed = [scripts['install'], scripts['prepare']].flatMap((cmd) => cmd?.match(/scripts\/[\w./-]+/g) ?? []);
    expect(needed.length).toBeGreaterThan(0);
    for (const file of needed) expect(copied, file).toContain(file);
  });
});
