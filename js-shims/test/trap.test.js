// Trap recovery in Node: a real out-of-memory trap (under a V8 memory cap) and a real stack
// exhaustion inside a kernel call; afterwards every call works, and resources made before the
// trap (Registry, Keyer) answer exactly as before.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import * as api from '../src/index.js';
import { makeWitnesses, memoryTrap, sameAnswers, stackTrap } from './trap-scenarios.js';

test('out of memory traps; the next calls succeed on a fresh instance', () => {
  const w = makeWitnesses();
  const gen = api.instanceGeneration();
  v8.setFlagsFromString('--wasm-max-mem-pages=256'); // 16 MiB per wasm memory
  let err;
  try {
    err = memoryTrap(2_000_000); // needs ~60 MB
  } finally {
    v8.setFlagsFromString('--wasm-max-mem-pages=4294967295'); // V8's default
  }
  assert.ok(err instanceof api.MizanKernelError, `expected a MizanKernelError, got ${err}`);
  assert.equal(err.code, 'trap');
  assert.ok(err.cause instanceof WebAssembly.RuntimeError, String(err.cause));
  assert.match(err.message, /trapped \(RuntimeError: unreachable\)/);
  assert.equal(err.details, null);
  assert.equal(api.instanceGeneration(), gen + 1);
  assert.ok(sameAnswers(w), 'resources made before the trap answer as before');
  // A Store keeps its state in the instance: it comes back empty, like after reset().
  assert.equal(w.store.instanceCount(), 0);
  assert.equal(typeof w.store.subscribe('user', { user_id: 5 }, 1), 'string');
  // So does the origin cache (a cache may always miss).
  assert.equal(w.origin.get('k', 1), null);
  assert.equal(w.origin.put('k', 'body', ['idx'], 60, 1), true);
  assert.equal(api.stringify('1'), '1');
  // The same input without the cap succeeds: the trap was the cap, not the input.
  assert.equal(memoryTrap(200_000), null);
});

test('stack exhaustion inside a kernel call is a trap too; recovery is the same', () => {
  const w = makeWitnesses();
  const gen = api.instanceGeneration();
  const out = stackTrap();
  console.log(`stack exhaustion: ${out.trap} traps, ${out.ok} successful calls, ${out.other} other errors`);
  assert.ok(out.trap > 0, `no trap observed: ${JSON.stringify(out)}`);
  assert.ok(out.sample.cause instanceof RangeError || out.sample.cause instanceof WebAssembly.RuntimeError);
  assert.ok(api.instanceGeneration() > gen);
  assert.ok(sameAnswers(w));
});

test('objects of a retired instance are finalized harmlessly', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  let w = makeWitnesses();
  const orphans = [];
  for (let i = 0; i < 50; i++) orphans.push(api.Registry.fromKdl('mizan-ir version=1\n'), api.createKeyer(`s-${i}`));
  v8.setFlagsFromString('--wasm-max-mem-pages=256');
  try {
    assert.equal(memoryTrap(2_000_000)?.code, 'trap');
  } finally {
    v8.setFlagsFromString('--wasm-max-mem-pages=4294967295');
  }
  orphans.length = 0;
  w = null;
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(api.stringify({ ok: true }), '{"ok":true}');
  assert.ok(sameAnswers(makeWitnesses()));
});
