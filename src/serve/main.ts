#!/usr/bin/env node
// Entry point of the sidecar image (and `node dist/serve/main.js` without the CLI).
import { runServe } from './index.js';

runServe(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`cgfreeze serve: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
