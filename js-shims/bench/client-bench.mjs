#!/usr/bin/env node
// `npm run bench:client`: the client store against TanStack Query, in one run.
//
// 1. Invalidation: 10 000 cached, observed instances (`todos` × {list_id: 0‥99, page: 0‥99}, one
//    listener each); one mutation response invalidates 1 % of them ({list_id: L}: 100 instances).
//    Time from handing the response over to the 100th listener being called, against
//    @tanstack/query-core's QueryClient.invalidateQueries with the equivalent predicate on the
//    same data (10 000 QueryObservers, one listener each). Both refetch the 100 instances (the
//    fetch functions return promises that never settle, so only the apply-and-notify work is
//    timed). TanStack's notifyManager runs on queueMicrotask here (its default is setTimeout(0),
//    which would add a timer tick); Mizan notifies synchronously inside its flush.
// 2. Bundle size (gzip -9): a small React app built with Vite 8 three ways — React alone, React +
//    @mizan/kernel-wasm/react (JS + wasm), React + @tanstack/react-query.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { QueryClient, QueryObserver, notifyManager } from '@tanstack/query-core';
import { Store } from '../src/index.js';
import { createClient } from '../src/client/index.js';
import { buildApp } from '../test/vite-build.js';

// LISTS × PAGES instances; one list (PAGES instances) is invalidated. Defaults: 10 000 and 1 %.
const LISTS = Number(process.env.LISTS ?? 100);
const PAGES = Number(process.env.PAGES ?? 100);
const N = LISTS * PAGES;
const AFFECTED = PAGES; // 1 %
const WARMUP = 3;
const REPS = Number(process.env.REPS ?? 15);
const benchDir = fileURLToPath(new URL('.', import.meta.url));

const bundle = (l, p) => ({
  todo_list: [0, 1, 2].map((i) => ({ id: l * 100_000 + p * 10 + i, title: `todo ${l}/${p}/${i}`, done: i === 0 })),
});
const never = new Promise(() => {});
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const nextTask = () => new Promise((r) => setTimeout(r, 0));

// ---- Mizan -------------------------------------------------------------------------------------

function setupMizan() {
  const s = { fetches: 0, notified: 0, target: 0, tEnd: 0, pendingCall: null };
  const transport = {
    fetch: () => {
      s.fetches++;
      return never;
    },
    call: () => new Promise((resolve) => (s.pendingCall = resolve)),
    session: async () => ({ csrfToken: null }),
  };
  const instances = [];
  for (let l = 0; l < LISTS; l++) for (let p = 0; p < PAGES; p++) instances.push({ context: 'todos', params: { list_id: l, page: p }, data: bundle(l, p) });
  const t0 = performance.now();
  const client = createClient({
    transport,
    listen: false,
    staleTime: Infinity,
    gcTime: Infinity,
    maxInstances: 2 * N,
    hydrate: { version: 1, instances },
  });
  const onChange = () => {
    if (++s.notified === s.target) s.tEnd = performance.now();
  };
  for (let l = 0; l < LISTS; l++) for (let p = 0; p < PAGES; p++) client.subscribe('todos', { list_id: l, page: p }, onChange);
  s.setupMs = performance.now() - t0;
  assert.equal(client.instanceCount(), N);
  assert.equal(s.fetches, 0, 'hydrated and fresh: nothing fetched');
  s.notified = 0;
  s.client = client;
  return s;
}

/** The mutation response (body + header) → merges/invalidation → 100 refetches → 100 listeners. */
async function mizanResponse(s, l) {
  s.notified = 0;
  s.fetches = 0;
  s.target = AFFECTED;
  s.tEnd = 0;
  const done = s.client.mutate('add_todo', { list_id: l, title: 'x' });
  const respond = s.pendingCall;
  const body = { result: { id: 1, title: 'x' }, invalidate: [{ context: 'todos', params: { list_id: l } }] };
  const t0 = performance.now();
  respond({ body, header: `todos;list_id=${l}` });
  await done;
  const ms = s.tEnd - t0;
  await nextTask();
  assert.equal(s.notified, AFFECTED, 'exactly the affected instances were notified');
  assert.equal(s.fetches, AFFECTED);
  return ms;
}

/** client.invalidate(entries): the same work without the response parsing (server push). */
function mizanInvalidate(s, l) {
  s.notified = 0;
  s.fetches = 0;
  s.target = AFFECTED;
  s.tEnd = 0;
  const t0 = performance.now();
  s.client.invalidate([{ context: 'todos', params: { list_id: l } }]);
  const ms = s.tEnd - t0;
  assert.equal(s.notified, AFFECTED);
  assert.equal(s.fetches, AFFECTED);
  return ms;
}

/** Where the time goes: the same data in a raw kernel Store, each step timed on its own. */
function setupRaw() {
  const store = Store.create({ stale_time_ms: Number.MAX_SAFE_INTEGER, gc_time_ms: Number.MAX_SAFE_INTEGER, max_instances: 2 * N });
  const instances = [];
  for (let l = 0; l < LISTS; l++) for (let p = 0; p < PAGES; p++) instances.push({ context: 'todos', params: { list_id: l, page: p }, data: bundle(l, p) });
  store.hydrate({ version: 1, instances }, 1);
  for (let l = 0; l < LISTS; l++) for (let p = 0; p < PAGES; p++) store.subscribe('todos', { list_id: l, page: p }, 1);
  store.drain(1);
  return store;
}

function rawSteps(store, l) {
  const t0 = performance.now();
  store.invalidate([{ context: 'todos', params: { list_id: l } }]);
  const t1 = performance.now();
  const d = store.drain(2);
  const t2 = performance.now();
  for (const k of d.changed) store.snapshot(k, 2);
  const t3 = performance.now();
  store.drain(2);
  const t4 = performance.now();
  assert.equal(d.effects.length, AFFECTED);
  return { invalidate: t1 - t0, drain: t2 - t1, snapshots: t3 - t2, emptyDrain: t4 - t3 };
}

// ---- TanStack query-core ---------------------------------------------------------------------

function setupTanstack() {
  notifyManager.setScheduler(queueMicrotask);
  const s = { fetches: 0, notified: 0, calls: 0, target: 0, tEnd: 0, seen: new Set() };
  const t0 = performance.now();
  const qc = new QueryClient({
    defaultOptions: { queries: { staleTime: Infinity, gcTime: Infinity, retry: false, refetchOnWindowFocus: false, refetchOnReconnect: false } },
  });
  qc.mount();
  const queryFn = () => {
    s.fetches++;
    return never;
  };
  for (let l = 0; l < LISTS; l++) {
    for (let p = 0; p < PAGES; p++) {
      const queryKey = ['todos', { list_id: l, page: p }];
      qc.setQueryData(queryKey, bundle(l, p));
      const observer = new QueryObserver(qc, { queryKey, queryFn });
      observer.subscribe(() => {
        s.calls++;
        if (s.seen.has(observer)) return;
        s.seen.add(observer);
        if (++s.notified === s.target) s.tEnd = performance.now();
      });
    }
  }
  s.setupMs = performance.now() - t0;
  assert.equal(qc.getQueryCache().getAll().length, N);
  assert.equal(s.fetches, 0);
  s.qc = qc;
  return s;
}

async function tanstackInvalidate(s, l) {
  s.notified = 0;
  s.calls = 0;
  s.fetches = 0;
  s.seen.clear();
  s.target = AFFECTED;
  s.tEnd = 0;
  const t0 = performance.now();
  s.qc.invalidateQueries({ predicate: (q) => q.queryKey[0] === 'todos' && q.queryKey[1].list_id === l });
  await nextTask(); // the microtask-scheduled notifications have run
  assert.equal(s.notified, AFFECTED);
  assert.equal(s.fetches, AFFECTED);
  return s.tEnd - t0;
}

// ---- bundle sizes ------------------------------------------------------------------------------

function files(dir) {
  return readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : [join(dir, f)]));
}

async function sizes(name) {
  const built = await buildApp(name, { src: join(benchDir, 'apps', name), logLevel: 'error' });
  try {
    const out = { js: 0, wasm: 0, jsRaw: 0, wasmRaw: 0 };
    for (const f of files(built.dist)) {
      const kind = f.endsWith('.js') ? 'js' : f.endsWith('.wasm') ? 'wasm' : null;
      if (!kind) continue;
      const b = readFileSync(f);
      out[kind] += gzipSync(b, { level: 9 }).length;
      out[`${kind}Raw`] += b.length;
    }
    return out;
  } finally {
    await built.remove();
  }
}

// ---- run ---------------------------------------------------------------------------------------

const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
const ms = (x) => `${x.toFixed(2)} ms`;
const pad = (s, n) => String(s).padStart(n);

async function main() {
  // Each repetition invalidates a fresh list on each Mizan path.
  assert.ok(LISTS >= 2 * (WARMUP + REPS), `LISTS must be at least ${2 * (WARMUP + REPS)} for ${REPS} repetitions`);
  const mizan = setupMizan();
  const tq = setupTanstack();
  const rows = { response: [], invalidate: [], tanstack: [] };
  // Each repetition uses fresh instances (a list whose refetches are still running would
  // coalesce, as it should), interleaved so load changes hit every row alike.
  let nextList = 0;
  for (let r = 0; r < WARMUP + REPS; r++) {
    const a = await mizanResponse(mizan, nextList++);
    const b = mizanInvalidate(mizan, nextList++);
    const c = await tanstackInvalidate(tq, r);
    if (r >= WARMUP) {
      rows.response.push(a);
      rows.invalidate.push(b);
      rows.tanstack.push(c);
    }
  }
  const tqCalls = tq.calls;
  mizan.client.close();
  const raw = setupRaw();
  const steps = [];
  for (let r = 0; r < WARMUP + REPS; r++) {
    const x = rawSteps(raw, r);
    if (r >= WARMUP) steps.push(x);
  }
  raw.free();

  const sz = {};
  if (process.env.SIZES !== '0') for (const name of ['react-baseline', 'react-mizan', 'react-tanstack']) sz[name] = await sizes(name);

  const m = (k) => median(rows[k]);
  console.log(`Node ${process.version}, ${cpus()[0]?.model ?? '?'} × ${cpus().length}; load ${loadavg()[0].toFixed(1)}; median of ${REPS} interleaved repetitions (after ${WARMUP} warm-up)`);
  console.log(`@tanstack/query-core ${(await import('@tanstack/query-core/package.json', { with: { type: 'json' } })).default.version}, notifyManager on queueMicrotask`);
  console.log('');
  console.log(`${N} observed instances, one response invalidating ${AFFECTED} (${((100 * AFFECTED) / N).toFixed(0)} %): time to apply and notify`);
  console.log('');
  console.log(`case                                                         median        min        max`);
  console.log(`-----------------------------------------------------------  ---------  ---------  ---------`);
  const line = (label, k) => console.log(`${label.padEnd(59)}  ${pad(ms(m(k)), 9)}  ${pad(ms(Math.min(...rows[k])), 9)}  ${pad(ms(Math.max(...rows[k])), 9)}`);
  line('Mizan: call response (body + header) → notify', 'response');
  line('Mizan: client.invalidate(entries) → notify', 'invalidate');
  line('TanStack: invalidateQueries({predicate}) → notify', 'tanstack');
  console.log('');
  console.log('where the Mizan time goes (a raw kernel Store with the same data, each step alone):');
  const step = (label, k) => console.log(`  ${label.padEnd(57)}  ${pad(ms(median(steps.map((x) => x[k]))), 9)}`);
  step(`store.invalidate: match ${N} instances, mark ${AFFECTED}`, 'invalidate');
  step(`store.drain: ${AFFECTED} fetch effects (JSON)`, 'drain');
  step(`${AFFECTED} × store.snapshot (JSON of each bundle)`, 'snapshots');
  step('an empty store.drain (scans every instance for timers)', 'emptyDrain');
  console.log('');
  console.log(`setup (${N} instances observed): Mizan ${ms(mizan.setupMs)} (hydrate + subscribe), TanStack ${ms(tq.setupMs)} (setQueryData + QueryObserver.subscribe)`);
  console.log(`per repetition: ${AFFECTED} listeners called and ${AFFECTED} fetches started on both sides (TanStack listener calls in the last repetition: ${tqCalls})`);
  if (process.env.SIZES === '0') return;
  console.log('');
  console.log('Bundle (Vite 8 production build of the same small React app; gzip -9)');
  console.log('');
  console.log(`app                               JS gzip   wasm gzip  total gzip   over React   (raw JS / wasm)`);
  console.log(`--------------------------------  --------  ---------  ----------  -----------  -----------------`);
  const base = sz['react-baseline'].js + sz['react-baseline'].wasm;
  for (const [name, label] of [['react-baseline', 'React 19 alone'], ['react-mizan', 'React + @mizan/kernel-wasm/react'], ['react-tanstack', 'React + @tanstack/react-query']]) {
    const s = sz[name];
    const total = s.js + s.wasm;
    console.log(`${label.padEnd(32)}  ${pad(kb(s.js), 8)}  ${pad(s.wasm ? kb(s.wasm) : '—', 9)}  ${pad(kb(total), 10)}  ${pad(name === 'react-baseline' ? '—' : `+${kb(total - base)}`, 11)}  ${kb(s.jsRaw)} / ${s.wasmRaw ? kb(s.wasmRaw) : '—'}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
