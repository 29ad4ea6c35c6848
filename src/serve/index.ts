import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CgfreezeError } from '../errors.js';
import type { ResolveOptions } from '../resolve/index.js';
import { freezerBackend } from './freezer-backend.js';
import { loadPolicy } from './policy.js';
import { DEFAULTS, type ServeOptions, type Sidecar, startServer } from './server.js';

export { startServer, DEFAULTS, type ServeOptions, type Sidecar } from './server.js';
export { freezerBackend } from './freezer-backend.js';
export type { Backend, TargetInfo } from './backend.js';
export {
  parsePolicy,
  loadPolicy,
  DEFAULT_POLICY,
  type Policy,
  type PolicyRule,
  type Caller,
  type Action,
} from './policy.js';

export const SERVE_USAGE = `Usage: cgfreeze serve [options]

Runs the privileged sidecar: an HTTP/JSON API on a unix socket that pauses and
resumes containers for the callers its policy allows.

  --socket PATH          unix socket (default ${DEFAULTS.socketPath})
  --socket-mode MODE     octal file mode of the socket (default 660)
  --socket-owner USER    owner of the socket file (name or uid)
  --socket-group GROUP   group of the socket file (name or gid)
  --tcp [HOST:]PORT      also listen on TCP (host default 127.0.0.1); needs a token
  --token-file FILE      bearer token for TCP (or CGFREEZE_SERVE_TOKEN)
  --policy FILE          JSON caller policy (default: only uid 0)
  --lease-file FILE      lease store (default ${DEFAULTS.leaseFile})
  --audit-log FILE       JSON Lines audit log (default stderr)
  --on-sigterm MODE      leave (default) or thaw what this sidecar froze
  --host-root DIR        where the host filesystem is mounted (default /)
  --resolve-options FILE JSON engine roots for container references (docker, containerd,
                         storage, engines; see docs/references.md)
  --max-concurrent N     requests served at once (default ${DEFAULTS.maxConcurrent})
  --max-body BYTES       largest request body (default ${DEFAULTS.maxBodyBytes})
  --request-timeout MS   a request must arrive within this (default ${DEFAULTS.requestTimeoutMs})
`;

function positiveInt(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new CgfreezeError('ERR_INVALID_ARG', `${name} must be a positive integer, got ${value}`);
  return Number(value);
}

export interface ServeCommand {
  options: Omit<ServeOptions, 'backend'>;
  onSigterm: 'leave' | 'thaw';
  /** Engine roots for container references. */
  resolve?: ResolveOptions;
}

function readResolveOptions(file: string): ResolveOptions {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CgfreezeError('ERR_INVALID_ARG', `cannot read --resolve-options ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new CgfreezeError('ERR_INVALID_ARG', `--resolve-options ${file} must hold a JSON object`);
  }
  const allowed = ['engines', 'docker', 'containerd', 'storage', 'mountinfo', 'cache'];
  for (const key of Object.keys(doc)) {
    if (!allowed.includes(key))
      throw new CgfreezeError(
        'ERR_INVALID_ARG',
        `--resolve-options: unknown key ${JSON.stringify(key)} (known: ${allowed.join(', ')})`,
      );
  }
  // The resolver validates the values themselves when it uses them.
  return doc as ResolveOptions;
}

/** Parses `cgfreeze serve` arguments; throws ERR_INVALID_ARG with a message fit for the terminal. */
export function parseServeArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ServeCommand {
  const parse = () =>
    parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        socket: { type: 'string' },
        'socket-mode': { type: 'string' },
        'socket-owner': { type: 'string' },
        'socket-group': { type: 'string' },
        tcp: { type: 'string' },
        'token-file': { type: 'string' },
        policy: { type: 'string' },
        'lease-file': { type: 'string' },
        'audit-log': { type: 'string' },
        'on-sigterm': { type: 'string' },
        'host-root': { type: 'string' },
        'resolve-options': { type: 'string' },
        'max-concurrent': { type: 'string' },
        'max-body': { type: 'string' },
        'request-timeout': { type: 'string' },
      },
    });
  let values: ReturnType<typeof parse>['values'];
  try {
    ({ values } = parse());
  } catch (err) {
    throw new CgfreezeError('ERR_INVALID_ARG', (err as Error).message);
  }
  const onSigterm = values['on-sigterm'] ?? 'leave';
  if (onSigterm !== 'leave' && onSigterm !== 'thaw')
    throw new CgfreezeError('ERR_INVALID_ARG', '--on-sigterm must be leave or thaw');
  const mode = values['socket-mode'];
  if (mode !== undefined && !/^0?[0-7]{3}$/.test(mode))
    throw new CgfreezeError('ERR_INVALID_ARG', `--socket-mode must be octal like 660, got ${mode}`);
  const options: Omit<ServeOptions, 'backend'> = {};
  if (values.socket !== undefined) options.socketPath = values.socket;
  if (mode !== undefined) options.socketMode = parseInt(mode, 8);
  if (values['socket-owner'] !== undefined) options.socketOwner = values['socket-owner'];
  if (values['socket-group'] !== undefined) options.socketGroup = values['socket-group'];
  if (values.policy !== undefined) options.policy = loadPolicy(values.policy);
  if (values['lease-file'] !== undefined) options.leaseFile = values['lease-file'];
  if (values['audit-log'] !== undefined) options.auditLog = values['audit-log'];
  if (values['host-root'] !== undefined) options.hostRoot = values['host-root'];
  const concurrent = positiveInt(values['max-concurrent'], '--max-concurrent');
  if (concurrent !== undefined) options.maxConcurrent = concurrent;
  const body = positiveInt(values['max-body'], '--max-body');
  if (body !== undefined) options.maxBodyBytes = body;
  const timeout = positiveInt(values['request-timeout'], '--request-timeout');
  if (timeout !== undefined) options.requestTimeoutMs = timeout;
  if (values.tcp !== undefined) {
    const m = /^(?:(.+):)?(\d+)$/.exec(values.tcp);
    if (m === null || Number(m[2]) > 65535)
      throw new CgfreezeError('ERR_INVALID_ARG', `--tcp must be [HOST:]PORT, got ${values.tcp}`);
    const token =
      values['token-file'] !== undefined ? readFileSync(values['token-file'], 'utf8').trim() : env.CGFREEZE_SERVE_TOKEN;
    if (token === undefined || token === '')
      throw new CgfreezeError('ERR_INVALID_ARG', '--tcp needs a token: --token-file FILE or CGFREEZE_SERVE_TOKEN');
    options.tcp = {
      port: Number(m[2]),
      token,
      ...(m[1] !== undefined ? { host: m[1].replace(/^\[(.*)\]$/, '$1') } : {}),
    };
  }
  const command: ServeCommand = { options, onSigterm };
  if (values['resolve-options'] !== undefined) command.resolve = readResolveOptions(values['resolve-options']);
  return command;
}

/**
 * `cgfreeze serve`: starts the sidecar and runs until SIGTERM or SIGINT.
 * Resolves with the exit code. The CLI calls this with the arguments after `serve`.
 */
export async function runServe(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(SERVE_USAGE);
    return 0;
  }
  let sidecar: Sidecar;
  let onSigterm: 'leave' | 'thaw';
  try {
    const command = parseServeArgs(argv);
    onSigterm = command.onSigterm;
    const backend = freezerBackend({
      ...(command.options.hostRoot !== undefined ? { hostRoot: command.options.hostRoot } : {}),
      ...(command.resolve !== undefined ? { resolve: command.resolve } : {}),
    });
    sidecar = await startServer({ ...command.options, backend });
  } catch (err) {
    process.stderr.write(`cgfreeze serve: ${(err as Error).message}\n`);
    return err instanceof CgfreezeError && err.code === 'ERR_INVALID_ARG' ? 2 : 1;
  }
  const tcp = sidecar.tcpAddress === undefined ? '' : ` and ${sidecar.tcpAddress.address}:${sidecar.tcpAddress.port}`;
  process.stderr.write(
    `cgfreeze serve: listening on ${sidecar.socketPath}${tcp} (${sidecar.leases().length} leases held)\n`,
  );
  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      // SIGINT is an operator at a terminal: leave things as they are, like the default SIGTERM.
      const thaw = signal === 'SIGTERM' && onSigterm === 'thaw';
      sidecar.close({ thaw }).then(
        () => {
          process.stderr.write(`cgfreeze serve: stopped on ${signal}${thaw ? ', thawed what it held' : ''}\n`);
          resolve(0);
        },
        (err: unknown) => {
          process.stderr.write(`cgfreeze serve: shutdown: ${(err as Error).message}\n`);
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
