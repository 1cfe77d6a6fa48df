// Every tests/conformance/<feature>/scenarios.json replayed through the JS API (Node).
// MIZAN_SCENARIOS overrides the place: a scenarios file, one feature's directory or a directory
// of features.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadScenarios } from './conformance-files.js';
import { run } from './conformance-runner.js';

test('conformance scenarios (node)', () => {
  const doc = loadScenarios();
  const { passed, failed, skipped, failures } = run(doc);
  console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped (they need exact integers past 2^53)` : ''));
  for (const f of failures) console.log(`FAIL ${f.id} [${f.op}]: ${f.message}`);
  assert.ok(passed > 0, 'no scenarios ran');
  assert.equal(failed, 0, failures.map((f) => `${f.id}: ${f.message}`).join('\n'));
});
