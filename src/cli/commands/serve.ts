import { readFileSync } from 'node:fs';
import { CgfreezeError, fromSystemError } from '../../errors.js';
import type { ServeOptions, Sidecar } from '../../serve/index.js';
import { DEFAULTS } from '../../serve/defaults.js';
import {
  durationOption,
  formatMs,
  type OptionSpecs,
  type Parsed,
  type ParsedValues,
  stringValue,
  usageError,
} from '../args.js';
import { type Command, type CommandContext, EXIT_FAILURE, EXIT_OK } from '../command.js';
import { ENGINE_OPTIONS, resolveOptionsOf } from '../engines.js';

const SERVE_OPTIONS: OptionSpecs = {
  socket: { type: 'string', arg: 'PATH', help: `The unix socket to serve on (default ${DEFAULTS.socketPath})` },
  'socket-mode': { type: 'string', arg: 'MODE', help: 'Octal file mode of the socket (default 660)' },
  'socket-owner': { type: 'string', arg: 'USER', help: 'Owner of the socket file, a name or a uid' },
  'socket-group': { type: 'string', arg: 'GROUP', help: 'Group of the socket file, a name or a gid' },
  tcp: {
    type: 'string',
    arg: '[HOST:]PORT',
    help: 'Also serve on TCP, with a token (HOST default 127.0.0.1; :PORT is every interface)',
  },
  'token-file': { type: 'string', arg: 'FILE', help: 'The bearer token for --tcp (or set CGFREEZE_SERVE_TOKEN)' },
  'metrics-listen': {
    type: 'string',
    arg: '[HOST:]PORT',
    help: 'Serve GET /metrics and /healthz there, and nothing else, without a token',
  },
  policy: { type: 'string', arg: 'FILE', help: 'The JSON caller policy (default: only uid 0)' },
  'lease-file': { type: 'string', arg: 'FILE', help: `Where leases persist (default ${DEFAULTS.leaseFile})` },
  'on-sigterm': { type: 'string', arg: 'leave|thaw', help: 'On SIGTERM, leave (default) or thaw what it froze' },
  'max-concurrent': {
    type: 'string',
    arg: 'N',
    help: `Operations served at once; more wait, callers in turn (default ${DEFAULTS.maxConcurrent})`,
  },
  'queue-timeout': {
    type: 'string',
    arg: 'DURATION',
    help: `The longest wait for an operation slot; then 503 (default ${formatMs(DEFAULTS.queueTimeoutMs)})`,
  },
  'max-body': { type: 'string', arg: 'BYTES', help: `The largest request body (default ${DEFAULTS.maxBodyBytes})` },
  'request-timeout': {
    type: 'string',
    arg: 'DURATION',
    help: `A request must arrive within this (default ${formatMs(DEFAULTS.requestTimeoutMs)})`,
  },
  ...ENGINE_OPTIONS,
};

/** A --request-timeout or --queue-timeout longer than this is a mistake (milliseconds read as seconds). */
const MAX_REQUEST_TIMEOUT_MS = 10 * 60_000;

function positiveInt(values: ParsedValues, name: string): number | undefined {
  const text = stringValue(values, name);
  if (text === undefined) return undefined;
  if (!/^\d{1,9}$/.test(text) || Number(text) < 1)
    throw usageError('serve', `--${name} takes a positive whole number, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** `PORT` (on 127.0.0.1), `:PORT` (every interface), `HOST:PORT`, `[IPv6]:PORT`. */
function address(values: ParsedValues, name: string): { host: string; port: number } | undefined {
  const text = stringValue(values, name);
  if (text === undefined) return undefined;
  const m = /^(?:(.*):)?(\d{1,5})$/.exec(text);
  if (m === null || Number(m[2]) > 65535)
    throw usageError('serve', `--${name} takes [HOST:]PORT, got ${JSON.stringify(text)}`);
  const host = m[1] === undefined ? '127.0.0.1' : m[1] === '' ? '0.0.0.0' : m[1].replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(m[2]) };
}

function readToken(values: ParsedValues, env: NodeJS.ProcessEnv): string {
  const file = stringValue(values, 'token-file');
  let token = env['CGFREEZE_SERVE_TOKEN'];
  if (file !== undefined) {
    try {
      token = readFileSync(file, 'utf8').trim();
    } catch (err) {
      const e = fromSystemError(err, file);
      throw new CgfreezeError(e.code, `cannot read --token-file ${file}: ${e.message}`, { path: file, cause: err });
    }
  }
  if (token === undefined || token === '')
    throw usageError('serve', '--tcp needs a token: --token-file FILE or CGFREEZE_SERVE_TOKEN');
  return token;
}

export interface ServeCommandLine {
  options: Omit<ServeOptions, 'policy'>;
  policyFile?: string;
  onSigterm: 'leave' | 'thaw';
}

/** `cgfreeze serve`'s options as the sidecar takes them; a bad one is a usage error. */
export function serveOptionsOf(
  values: ParsedValues,
  ctx: Pick<CommandContext, 'env' | 'auditOptions'>,
): ServeCommandLine {
  const onSigterm = stringValue(values, 'on-sigterm') ?? 'leave';
  if (onSigterm !== 'leave' && onSigterm !== 'thaw') throw usageError('serve', '--on-sigterm takes leave or thaw');
  const mode = stringValue(values, 'socket-mode');
  if (mode !== undefined && !/^0?[0-7]{3}$/.test(mode))
    throw usageError('serve', `--socket-mode takes an octal mode like 660, got ${JSON.stringify(mode)}`);
  const requestTimeoutMs = durationOption('serve', values, 'request-timeout');
  if (requestTimeoutMs !== undefined && (requestTimeoutMs <= 0 || requestTimeoutMs > MAX_REQUEST_TIMEOUT_MS))
    throw usageError('serve', `--request-timeout takes a duration from 1ms to ${formatMs(MAX_REQUEST_TIMEOUT_MS)}`);
  const queueTimeoutMs = durationOption('serve', values, 'queue-timeout');
  if (queueTimeoutMs !== undefined && (queueTimeoutMs <= 0 || queueTimeoutMs > MAX_REQUEST_TIMEOUT_MS))
    throw usageError('serve', `--queue-timeout takes a duration from 1ms to ${formatMs(MAX_REQUEST_TIMEOUT_MS)}`);
  const { hostRoot, ...resolve } = resolveOptionsOf('serve', values);
  const tcp = address(values, 'tcp');
  const metricsListen = address(values, 'metrics-listen');
  const maxConcurrent = positiveInt(values, 'max-concurrent');
  const maxBodyBytes = positiveInt(values, 'max-body');
  const [socketPath, socketOwner, socketGroup, leaseFile, policyFile] = [
    'socket',
    'socket-owner',
    'socket-group',
    'lease-file',
    'policy',
  ].map((name) => stringValue(values, name));
  const options: ServeCommandLine['options'] = {
    resolve,
    audit: ctx.auditOptions,
    ...(hostRoot === undefined ? {} : { hostRoot }),
    ...(socketPath === undefined ? {} : { socketPath }),
    ...(mode === undefined ? {} : { socketMode: parseInt(mode, 8) }),
    ...(socketOwner === undefined ? {} : { socketOwner }),
    ...(socketGroup === undefined ? {} : { socketGroup }),
    ...(leaseFile === undefined ? {} : { leaseFile }),
    ...(tcp === undefined ? {} : { tcp: { ...tcp, token: readToken(values, ctx.env) } }),
    ...(metricsListen === undefined ? {} : { metricsListen }),
    ...(maxConcurrent === undefined ? {} : { maxConcurrent }),
    ...(maxBodyBytes === undefined ? {} : { maxBodyBytes }),
    ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
    ...(queueTimeoutMs === undefined ? {} : { queueTimeoutMs }),
  };
  return { options, onSigterm, ...(policyFile === undefined ? {} : { policyFile }) };
}

function listening(sidecar: Sidecar): string {
  const tcp = sidecar.tcpAddress;
  const scrape = sidecar.metricsAddress;
  return (
    `cgfreeze serve: listening on ${sidecar.socketPath}` +
    (tcp === undefined ? '' : ` and ${tcp.address}:${tcp.port}`) +
    (scrape === undefined ? '' : `, metrics on ${scrape.address}:${scrape.port}`) +
    ` (${sidecar.leases().length} leases held)`
  );
}

/**
 * Runs until SIGTERM or SIGINT. SIGINT is an operator at a terminal: it leaves everything as it is, like
 * the default SIGTERM. SIGHUP opens the audit log file again (after a rotation).
 */
function untilStopped(ctx: CommandContext, sidecar: Sidecar, onSigterm: 'leave' | 'thaw'): Promise<number> {
  return new Promise<number>((resolve) => {
    const reopen = (): void => {
      try {
        sidecar.reopenAuditLog();
      } catch (err) {
        ctx.out.err(`cgfreeze serve: cannot reopen the audit log: ${(err as Error).message}`);
      }
    };
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', stop).off('SIGINT', stop).off('SIGHUP', reopen);
      const thaw = signal === 'SIGTERM' && onSigterm === 'thaw';
      sidecar.close({ thaw }).then(
        () => {
          ctx.out.err(`cgfreeze serve: stopped on ${signal}${thaw ? ', thawed what it held' : ''}`);
          resolve(EXIT_OK);
        },
        (err: unknown) => {
          ctx.out.error(`cgfreeze serve: shutdown: ${(err as Error).message}`);
          resolve(EXIT_FAILURE);
        },
      );
    };
    process.on('SIGTERM', stop).on('SIGINT', stop).on('SIGHUP', reopen);
  });
}

/** `cgfreeze serve`: the sidecar (src/serve), loaded only when asked for. */
export const serveCommand: Command = {
  name: 'serve',
  summary: 'Run the privileged sidecar: pause/unpause over HTTP on a unix socket, by policy',
  usage: 'serve [OPTIONS]',
  options: SERVE_OPTIONS,
  details:
    'Serves the HTTP/JSON API on the unix socket to the callers and targets its policy allows, and\n' +
    'writes one audit line per change to --audit-log (default stderr). docs/serve.md is the guide.',
  async run(ctx: CommandContext, args: Parsed): Promise<number> {
    const { options, policyFile, onSigterm } = serveOptionsOf(args.values, ctx);
    const { loadPolicy, startServer } = await import('../../serve/index.js');
    const sidecar = await startServer({
      ...options,
      ...(policyFile === undefined ? {} : { policy: loadPolicy(policyFile) }),
    });
    ctx.out.err(listening(sidecar));
    return untilStopped(ctx, sidecar, onSigterm);
  },
};
