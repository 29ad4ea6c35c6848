#!/usr/bin/env node
import { runMain } from './run.js';

runMain(process.argv.slice(2));
