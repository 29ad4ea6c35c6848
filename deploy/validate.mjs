// node deploy/validate.mjs [FILE.yaml ...]   (default: every deploy/*.yaml)
// Checks every document against the Kubernetes API schema of kubernetes-models (generated from
// the OpenAPI spec of Kubernetes 1.36; the PodMonitor from the Prometheus Operator's CRD) and,
// as `kubectl apply` does with the API server's strict field validation, rejects fields the
// schema does not know, so a misspelt securityContext field cannot vanish silently.
// Prints one line per document; exits 1 if any is invalid. Needs the devDependencies.
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

/** Where the model class of an apiVersion lives. */
function modelModule(apiVersion) {
  if (apiVersion === 'monitoring.coreos.com/v1')
    return '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
  return `kubernetes-models/${apiVersion}`;
}

/**
 * A copy of `value` whose objects remember which properties were read. The schema validator
 * reads each property its schema defines (and every key of a map), never the others.
 */
function tracked(value, reads) {
  if (value === null || typeof value !== 'object') return value;
  const copy = Array.isArray(value)
    ? value.map((v) => tracked(v, reads))
    : Object.fromEntries(Object.entries(value).map(([k, v]) => [k, tracked(v, reads)]));
  const read = new Set();
  const proxy = new Proxy(copy, {
    get(target, key, receiver) {
      if (typeof key === 'string') read.add(key);
      return Reflect.get(target, key, receiver);
    },
  });
  reads.set(proxy, { copy, read });
  return proxy;
}

function unknownFields(proxy, reads, path = '') {
  const entry = reads.get(proxy);
  if (entry === undefined) return [];
  const { copy, read } = entry;
  if (Array.isArray(copy)) return copy.flatMap((v, i) => unknownFields(v, reads, `${path}[${i}]`));
  return Object.entries(copy).flatMap(([k, v]) =>
    read.has(k) ? unknownFields(v, reads, `${path}.${k}`) : [`${path}.${k}`.slice(1)],
  );
}

/** Problems of one document, [] when it is valid. */
async function check(doc) {
  const { apiVersion, kind } = doc ?? {};
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return ['no apiVersion and kind'];
  let Model;
  try {
    Model = (await import(modelModule(apiVersion)))[kind];
  } catch {
    Model = undefined;
  }
  if (Model === undefined) return [`no schema for ${apiVersion} ${kind}`];
  const reads = new Map();
  const data = tracked(doc, reads);
  try {
    Model.prototype.validate.call(data);
  } catch (err) {
    return [err.message];
  }
  return unknownFields(data, reads).map((field) => `unknown field ${field}`);
}

const here = dirname(fileURLToPath(import.meta.url));
const files = process.argv.slice(2);
if (files.length === 0) {
  for (const f of readdirSync(here).sort()) if (f.endsWith('.yaml')) files.push(join(here, f));
}
let failed = false;
for (const file of files) {
  for (const parsed of parseAllDocuments(readFileSync(file, 'utf8'))) {
    const doc = parsed.toJS();
    const name = `${basename(file)}: ${doc?.kind} ${[doc?.metadata?.namespace, doc?.metadata?.name].filter(Boolean).join('/')}`;
    const problems = parsed.errors.length > 0 ? parsed.errors.map((e) => e.message) : await check(doc);
    if (problems.length === 0) {
      console.log(`${name}: ok`);
    } else {
      failed = true;
      for (const p of problems) console.error(`${name}: ${p}`);
    }
  }
}
process.exitCode = failed ? 1 : 0;
