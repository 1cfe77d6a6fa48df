// Every tests/conformance/<feature>/scenarios.json replayed through the JS API (Node).
// MIZAN_SCENARIOS overrides the place: a scenarios file, one feature's directory or a directory
// of features.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadScenarios } from './conformance-files.js';
import { run } from './conformance-runner.js';
import { loadClientComponent } from '../src/kernel/client.js';

test('conformance scenarios (node)', () => {
  const doc = loadScenarios();
  const { passed, failed, skipped, failures } = run(doc);
  console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped (they need exact integers past 2^53)` : ''));
  for (const f of failures) console.log(`FAIL ${f.id} [${f.op}]: ${f.message}`);
  assert.ok(passed > 0, 'no scenarios ran');
  assert.equal(failed, 0, failures.map((f) => `${f.id}: ${f.message}`).join('\n'));
});

test('client-session scenarios through the client component (node)', async () => {
  const doc = loadScenarios();
  const only = { registries: {}, scenarios: doc.scenarios.filter((s) => s.op === 'client-session-script') };
  const { passed, failed, failures } = run(only, await loadClientComponent());
  console.log(`${passed} passed, ${failed} failed (client component)`);
  for (const f of failures) console.log(`FAIL ${f.id} [${f.op}]: ${f.message}`);
  assert.ok(passed > 0, 'no client-session scenarios ran');
  assert.equal(failed, 0, failures.map((f) => `${f.id}: ${f.message}`).join('\n'));
});
