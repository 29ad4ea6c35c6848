import type { Command } from '../command.js';

/** `cgfreeze serve`: the sidecar (src/serve) parses its own options; loaded only when asked for. */
export const serveCommand: Command = {
  name: 'serve',
  summary: 'Run the privileged sidecar: pause/unpause over HTTP on a unix socket, by policy',
  usage: 'serve [OPTIONS]',
  options: {},
  details: "Run 'cgfreeze serve --help' for its options; docs/serve.md is the guide.",
  async runRaw(argv: string[]): Promise<number> {
    const { runServe } = await import('../../serve/index.js');
    return runServe(argv);
  },
};
