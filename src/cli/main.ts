#!/usr/bin/env node
import { run } from './run.js';

void run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then((status) => {
  process.exitCode = status;
});
