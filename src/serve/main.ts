#!/usr/bin/env node
// Entry point of the sidecar image (and `node dist/serve/main.js` without the CLI): `cgfreeze serve`,
// with the same options, help, messages and exit statuses.
import { runMain } from '../cli/run.js';

runMain(['serve', ...process.argv.slice(2)]);
