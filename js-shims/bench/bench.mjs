#!/usr/bin/env node
// Per-call figures for @mizan/kernel-wasm in Node: medians over rounds of many iterations, one
// table from one run. `npm run bench` (builds dist/ first).
//
//   MIZAN_BENCH_JCO_NEW=/tmp/jco-new/node_modules/.bin/jco npm run bench
//     also transpiles the same component with that (newer) jco and times its raw glue.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as api from '../src/index.js';
import { deriveCacheKeyJs, formatHeaderJs, parseHeaderJs } from './js-peer.js';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const SECRET = 'test-pin-secret-that-is-32bytes!';
const ROUNDS = 11;

let sink;
const cases = [];
/** Register a case; the runner sizes it to ~targetMs per round and interleaves all cases. */
function bench(fn, targetMs = 40) {
  const c = { fn, targetMs, n: 1, rounds: [] };
  cases.push(c);
  return c;
}

function size(c) {
  for (let i = 0; i < 100; i++) sink = c.fn();
  let n = 1;
  for (;;) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) sink = c.fn();
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    if (ms > c.targetMs / 4 || n > 1e7) {
      c.n = Math.max(1, Math.round((n * c.targetMs) / Math.max(ms, 0.001)));
      return;
    }
    n *= 4;
  }
}

/** Round-robin over every case, ROUNDS times (so load changes hit all rows alike); medians. */
function runAll() {
  for (const c of cases) size(c);
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of cases) {
      const t = process.hrtime.bigint();
      for (let i = 0; i < c.n; i++) sink = c.fn();
      c.rounds.push(Number(process.hrtime.bigint() - t) / c.n);
    }
  }
  for (const c of cases) c.ns = [...c.rounds].sort((a, b) => a - b)[ROUNDS >> 1];
}

/** Raw jco exports from a transpiled dir (no wrapper). */
async function rawGlue(dir) {
  const { instantiate } = await import(pathToFileURL(join(dir, 'kernel.js')).href);
  const mods = new Map();
  mods.set('kernel.core.wasm', await WebAssembly.compile(readFileSync(join(dir, 'kernel.core.wasm'))));
  if (existsSync(join(dir, 'kernel.small.js'))) {
    const { smallModules } = await import(pathToFileURL(join(dir, 'kernel.small.js')).href);
    for (const [name, b64] of Object.entries(smallModules)) mods.set(name, await WebAssembly.compile(Buffer.from(b64, 'base64')));
  } else {
    for (const name of ['kernel.core2.wasm', 'kernel.core3.wasm']) mods.set(name, await WebAssembly.compile(readFileSync(join(dir, name))));
  }
  const t = performance.now();
  const k = await instantiate((name) => mods.get(name), {});
  return { k, instantiateMs: performance.now() - t };
}

function registryKdl(nFunctions) {
  const lines = ['mizan-ir version=1', ''];
  const half = nFunctions / 2;
  for (let i = 0; i < half; i++) {
    lines.push(`function q${i} context=c${i % 20} output=integer {`, '    input user_id type=integer', '    input page type=integer required=#false', '}', '');
  }
  for (let j = 0; j < half; j++) {
    lines.push(`function m${j} output=integer {`, '    input user_id type=integer', '    input name type=string');
    lines.push(`    affects c${j % 20} c${(j + 7) % 20} q${(j + 3) % half}`, '}', '');
  }
  return lines.join('\n');
}

const tmp = mkdtempSync(join(tmpdir(), 'mizan-bench-'));
try {
  // The same component through unpatched jco 1.12 glue, for the patch's effect.
  execFileSync(process.execPath, [join(pkgDir, 'scripts/build.mjs'), '--force', '--out', join(tmp, 'unpatched')], {
    env: { ...process.env, MIZAN_JCO_PATCH: '0' },
    stdio: 'ignore',
  });
  const patched = await rawGlue(join(pkgDir, 'dist'));
  const unpatched = await rawGlue(join(tmp, 'unpatched'));
  let newer = null;
  const jcoNew = process.env.MIZAN_BENCH_JCO_NEW;
  if (jcoNew) {
    const out = join(tmp, 'jco-new');
    execFileSync(jcoNew, ['transpile', join(pkgDir, '../target/mizan-kernel.wasm'), '-o', out, '--name', 'kernel', '--instantiation', 'sync', '--no-typescript', '-q']);
    const version = execFileSync(jcoNew, ['--version']).toString().trim();
    newer = { ...(await rawGlue(out)), version };
  }

  const params = { user_id: '5' };
  const paramsText = JSON.stringify(params);
  const items = Array.from({ length: 100 }, (_, i) => ({ context: 'user', params: { user_id: i, page: 2 }, user: i }));
  const entries = [{ context: 'user', params: { user_id: 5, tab: 'a b' } }, 'notifications', { context: 'feed', function: 'feed_items', params: { page: 2 } }];
  const header = api.formatInvalidateHeader(entries);
  if (formatHeaderJs(entries) !== header) throw new Error(`JS header peer disagrees: ${formatHeaderJs(entries)}`);
  const registry = api.Registry.fromKdl(registryKdl(200));
  const fnCount = Object.keys(registry.toJson().functions).length;
  const invArgs = { user_id: 5, name: 'x' };

  const rows = [];
  const row = (what, kernelNs, jsNs, jsLabel) => rows.push({ what, kernelNs, jsNs, jsLabel });

  // 1. Trivial call.
  const trivial = bench(() => api.stringify('1'));
  row('stringify("1") — wrapper', trivial, bench(() => String('1')), 'String()');
  row('  raw glue, jco 1.12.0 + patch', bench(() => patched.k.canon.stringify('"1"')));
  row('  raw glue, jco 1.12.0 unpatched', bench(() => unpatched.k.canon.stringify('"1"')));
  if (newer) row(`  raw glue, jco ${newer.version}`, bench(() => newer.k.canon.stringify('"1"')));

  // 1b. A call with no strings at all (u32 out): the bare boundary.
  const store = api.Store.create();
  row('Store.instanceCount() — wrapper', bench(() => store.instanceCount()));
  const rawStore = patched.k.store.Store.create(undefined);
  row('  raw glue, jco 1.12.0', bench(() => rawStore.instanceCount()));
  if (newer) {
    const ns = newer.k.store.Store.create(undefined);
    row(`  raw glue, jco ${newer.version}`, bench(() => ns.instanceCount()));
  }

  // 2. One cache key.
  const jsKey = bench(() => deriveCacheKeyJs(SECRET, 'user', params));
  row('deriveCacheKey — wrapper', bench(() => api.deriveCacheKey(SECRET, 'user', params)), jsKey, 'node:crypto');
  const rawKeyer = patched.k.keys.Keyer.create(SECRET);
  row('  raw glue keyer.derive, + patch', bench(() => rawKeyer.derive('user', paramsText, undefined, 0)));
  const rawKeyerU = unpatched.k.keys.Keyer.create(SECRET);
  row('  raw glue keyer.derive, unpatched', bench(() => rawKeyerU.derive('user', paramsText, undefined, 0)));
  if (newer) {
    const kn = newer.k.keys.Keyer.create(SECRET);
    row(`  raw glue keyer.derive, jco ${newer.version}`, bench(() => kn.derive('user', paramsText, undefined, 0)));
  }
  row('  derive-cache-key (no keyer cache)', bench(() => patched.k.keys.deriveCacheKey(SECRET, 'user', paramsText, undefined, 0)));

  // 3. A batch of 100 keys.
  const jsBatch = bench(() => items.map((it) => deriveCacheKeyJs(SECRET, it.context, it.params, { user: it.user })));
  row('deriveCacheKeys(100)', bench(() => api.deriveCacheKeys(SECRET, items)), jsBatch, 'node:crypto ×100');
  row('  100 × deriveCacheKey', bench(() => items.map((it) => api.deriveCacheKey(SECRET, it.context, it.params, { user: it.user }))), jsBatch, 'node:crypto ×100');

  // 4. Header.
  row('formatInvalidateHeader (3 entries)', bench(() => api.formatInvalidateHeader(entries)), bench(() => formatHeaderJs(entries)), 'hand-written JS');
  row('parseInvalidateHeader (3 entries)', bench(() => api.parseInvalidateHeader(header)), bench(() => parseHeaderJs(header)), 'hand-written JS');

  // 5. Invalidation on a 200-function registry.
  row(`resolveInvalidation (${fnCount} functions)`, bench(() => registry.resolveInvalidation('m42', invArgs)));
  row('Registry.fromKdl (same registry)', bench(() => api.Registry.fromKdl(registryKdl(200)), 200));

  runAll();
  const fmt = (ns) => (ns === undefined ? '' : ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e4 ? `${(ns / 1e3).toFixed(1)} µs` : `${ns.toFixed(0)} ns`);
  const w = Math.max(...rows.map((r) => r.what.length));
  const lines = [
    `Node ${process.version}, ${process.arch}; median of ${ROUNDS} interleaved rounds; load ${loadavg()[0].toFixed(1)}; glue instantiate ${patched.instantiateMs.toFixed(1)} ms` +
      (newer ? ` (jco ${newer.version}: ${newer.instantiateMs.toFixed(1)} ms)` : ''),
    '',
    `${'operation'.padEnd(w)}  ${'kernel'.padStart(9)}  ${'JS peer'.padStart(9)}  ${'kernel/JS'.padStart(9)}  JS peer`,
    `${'-'.repeat(w)}  ${'-'.repeat(9)}  ${'-'.repeat(9)}  ${'-'.repeat(9)}  -------`,
  ];
  for (const r of rows) {
    const k = r.kernelNs.ns;
    const j = r.jsNs?.ns;
    const ratio = j ? `${(k / j).toFixed(1)}×` : '';
    lines.push(`${r.what.padEnd(w)}  ${fmt(k).padStart(9)}  ${fmt(j).padStart(9)}  ${ratio.padStart(9)}  ${r.jsLabel ?? ''}`);
  }
  console.log(lines.join('\n'));
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
