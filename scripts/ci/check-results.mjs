#!/usr/bin/env node
// Reads vitest's JSON report, prints one plain summary line, and fails the run
// when a test failed, none ran, or any was skipped: in CI a skipped real test
// is a failure (the lab, root and cgroups are always there). The caller deletes the report before
// the pass, so a missing file means that pass wrote none.
import { existsSync, readFileSync } from 'node:fs';

const [file, label = 'tests'] = process.argv.slice(2);
if (file === undefined) {
  console.error('usage: check-results.mjs REPORT.json [LABEL]');
  process.exit(2);
}
if (!existsSync(file)) {
  console.error(`${label}: no report at ${file}; the test run wrote none`);
  process.exit(1);
}
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
