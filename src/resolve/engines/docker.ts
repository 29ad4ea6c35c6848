import { readFileSync } from 'node:fs';
import { CgfreezeError } from '../../errors.js';
import { type Candidate, type Entry, healthOf, type Source, type SourceTrust } from '../candidate.js';
import { isRecord, num, str, stringMap } from '../../json.js';
import type { Host } from '../host.js';
import type { Discovered, DockerRoots } from '../types.js';

const DOCKER_ID = /^[0-9a-f]{64}$/;

/** Docker daemons to read when the caller names none: the running dockerd's flags, daemon.json or the defaults, plus rootless daemons. */
export function defaultDockerRoots(host: Host): Array<Discovered<DockerRoots>> {
  const roots: Array<Discovered<DockerRoots>> = [];
  const flags = dockerdFlags(host, '/var/run/docker.pid');
  let dataRoot = '/var/lib/docker';
  let execRoot = '/var/run/docker';
  let daemonJson: unknown;
  try {
    daemonJson = host.readJson(flags.get('--config-file') ?? '/etc/docker/daemon.json');
  } catch {
    // A broken daemon.json would stop dockerd too; fall back to the defaults.
    daemonJson = undefined;
  }
  if (isRecord(daemonJson)) {
    dataRoot = str(daemonJson['data-root']) ?? str(daemonJson['graph']) ?? dataRoot;
    execRoot = str(daemonJson['exec-root']) ?? execRoot;
  }
  // Command-line flags win over daemon.json, as in dockerd.
  roots.push({
    dataRoot: flags.get('--data-root') ?? flags.get('--graph') ?? dataRoot,
    execRoot: flags.get('--exec-root') ?? execRoot,
  });
  // Rootless daemons keep exec-root in $XDG_RUNTIME_DIR/docker and data-root in ~/.local/share/docker.
  for (const { uid, home } of host.rootlessUsers('docker')) {
    roots.push({
      dataRoot: `${home}/.local/share/docker`,
      execRoot: `/run/user/${uid}/docker`,
      rootlessUid: Number(uid),
    });
  }
  return roots;
}

/** The path flags of the dockerd whose pid is in `pidFile` (`--data-root`, `--exec-root`, `--config-file`). */
function dockerdFlags(host: Host, pidFile: string): Map<string, string> {
  const flags = new Map<string, string>();
  let argv: string[];
  try {
    const pid = host.readPid(pidFile);
    if (pid === 0) return flags;
    argv = readFileSync(host.path(`/proc/${pid}/cmdline`), 'utf8').split('\0');
  } catch {
    return flags;
  }
  if (!(argv[0] ?? '').endsWith('dockerd')) return flags;
  const aliases: Record<string, string> = { '-g': '--graph' };
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const key = aliases[eq < 0 ? arg : arg.slice(0, eq)] ?? (eq < 0 ? arg : arg.slice(0, eq));
    if (!['--data-root', '--graph', '--exec-root', '--config-file'].includes(key)) continue;
    const value = eq < 0 ? argv[++i] : arg.slice(eq + 1);
    if (value?.startsWith('/') === true) flags.set(key, value);
  }
  return flags;
}

export class DockerSource implements Source {
  readonly label: string;
  readonly engines = ['docker'] as const;
  readonly trust: SourceTrust;
  private readonly dataRoot: string;
  private readonly execRoot: string;
  private readonly namespace: string;
  private cachedEntries: Entry[] | undefined;

  constructor(
    private readonly host: Host,
    roots: Discovered<DockerRoots>,
  ) {
    this.dataRoot = host.resolveDir(roots.dataRoot);
    this.execRoot = host.resolveDir(roots.execRoot ?? '/var/run/docker');
    host.addStateRoot(this.dataRoot);
    host.addStateRoot(this.execRoot);
    this.trust = host.trustOf([this.dataRoot, this.execRoot], roots.rootlessUid);
    this.namespace = roots.namespace ?? 'moby';
    this.label = `docker:${roots.dataRoot}`;
  }

  entries(): Entry[] {
    this.cachedEntries ??= this.host
      .subdirs(`${this.dataRoot}/containers`)
      .filter((id) => DOCKER_ID.test(id))
      .map((id) => ({ id, key: id }));
    return this.cachedEntries;
  }

  listingDirs(): string[] {
    return [`${this.dataRoot}/containers`];
  }

  byName(name: string): string[] {
    // Docker names have at least two characters.
    if (name.length < 2) return [];
    // Names are [A-Za-z0-9_.-], so this JSON fragment needs no escaping. Peeking
    // at the head of each config avoids reading and parsing every file of a big host.
    const needle = `"Name":"/${name}"`;
    const keys: string[] = [];
    for (const { key } of this.entries()) {
      const head = this.host.peek(this.configPath(key));
      // A config longer than the peek (a huge Config.Env) is read in full.
      if (!head.includes(needle) && head.length < 64 * 1024) continue;
      const loaded = this.load(key);
      if (loaded?.names.includes(name)) keys.push(key);
    }
    return keys;
  }

  private configPath(id: string): string {
    return `${this.dataRoot}/containers/${id}/config.v2.json`;
  }

  load(id: string): Candidate | undefined {
    const base: Candidate = {
      engine: 'docker',
      instance: this.label,
      id,
      names: [],
      labels: {},
      running: false,
      pausedByEngine: false,
      pid: 0,
      runtimeDirs: this.runtimeDirs(id),
    };
    try {
      const read = this.host.readJsonStamped(this.configPath(id));
      if (read === undefined) return undefined;
      const config = read.value;
      if (!isRecord(config))
        throw new CgfreezeError('ERR_STATE_FILE', `${this.configPath(id)} is not a JSON object`, {
          path: this.configPath(id),
        });
      if (config['ID'] !== id) {
        throw new CgfreezeError(
          'ERR_STATE_FILE',
          `${this.configPath(id)} names container ${String(config['ID']).slice(0, 80)}, not ${id}`,
          {
            path: this.configPath(id),
          },
        );
      }
      const name = str(config['Name']);
      const state = isRecord(config['State']) ? config['State'] : {};
      const cfg = isRecord(config['Config']) ? config['Config'] : {};
      return {
        ...base,
        stateFile: { path: this.configPath(id), stamp: read.stamp },
        names: name !== undefined && name.length > 1 ? [name.replace(/^\//, '')] : [],
        labels: stringMap(cfg['Labels']),
        running: state['Running'] === true,
        pausedByEngine: state['Running'] === true && state['Paused'] === true,
        pid: num(state['Pid']) ?? 0,
        ...healthOf(state['Health']),
      };
    } catch (err) {
      if (!(err instanceof CgfreezeError)) throw err;
      return { ...base, error: err };
    }
  }

  /** runc (and crun under Docker) keep state in <exec-root>/runtime-<name>/<namespace>/<id>. */
  private runtimeDirs(id: string): string[] {
    const runtimes = this.host.subdirs(this.execRoot).filter((d) => d.startsWith('runtime-'));
    const ordered = ['runtime-runc', ...runtimes.filter((d) => d !== 'runtime-runc')];
    return ordered.map((d) => `${this.execRoot}/${d}/${this.namespace}/${id}`);
  }
}
