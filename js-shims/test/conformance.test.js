// tests/conformance/scenarios.json replayed through the JS API (Node). MIZAN_SCENARIOS overrides
// the path.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { run } from './conformance-runner.js';

const path = process.env.MIZAN_SCENARIOS ?? new URL('../../tests/conformance/scenarios.json', import.meta.url);

test('conformance scenarios (node)', () => {
  const doc = JSON.parse(readFileSync(path, 'utf8'));
  const { passed, failed, failures } = run(doc);
  console.log(`${passed} passed, ${failed} failed`);
  for (const f of failures) console.log(`FAIL ${f.id} [${f.op}]: ${f.message}`);
  assert.ok(passed > 0, 'no scenarios ran');
  assert.equal(failed, 0, failures.map((f) => `${f.id}: ${f.message}`).join('\n'));
});
