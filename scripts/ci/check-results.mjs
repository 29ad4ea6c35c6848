#!/usr/bin/env node
// Reads vitest's JSON report, prints one plain summary line, and fails the run
// when a test failed, none ran, or any was skipped: in CI a skipped real test
// is a failure (the lab, root and cgroups are always there).
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? 'test-results/vitest.json';
const label = process.argv[3] ?? 'tests';
const report = JSON.parse(readFileSync(file, 'utf8'));
const passed = report.numPassedTests ?? 0;
const failed = report.numFailedTests ?? 0;
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
console.log(`${label}: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (skipped > 0) {
  for (const suite of report.testResults ?? []) {
    for (const t of suite.assertionResults ?? []) {
      if (t.status === 'pending' || t.status === 'skipped' || t.status === 'todo')
        console.error(`skipped: ${suite.name} > ${t.fullName}`);
    }
  }
}
if (failed > 0 || passed === 0 || skipped > 0 || report.success === false) process.exit(1);
