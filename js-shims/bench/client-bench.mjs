#!/usr/bin/env node
// `npm run bench:client`: the client against TanStack Query and against itself before the client
// session (the baseline commit, bench/baseline.mjs), all in one run.
//
// 1. Invalidation: 10 000 cached, observed instances (`todos` × {list_id: 0‥99, page: 0‥99}, one
//    listener each); one mutation response invalidates 1 % of them ({list_id: L}: 100 instances).
//    Time from handing the response over to the 100th listener being called, against
//    @tanstack/query-core's QueryClient.invalidateQueries with the equivalent predicate on the
//    same data (10 000 QueryObservers, one listener each). Both refetch the 100 instances (the
//    fetch functions return promises that never settle, so only the apply-and-notify work is
//    timed). TanStack's notifyManager runs on queueMicrotask here (its default is setTimeout(0),
//    which would add a timer tick); Mizan notifies synchronously inside its update.
// 2. Setup: hydrate 10 000 instances and observe each (Mizan), setQueryData + a subscribed
//    QueryObserver each (TanStack).
// 3. Bundle size (gzip -9): a small React app built with Vite 8 four ways — React alone, React +
//    @mizan/kernel-wasm/react before and after, React + @tanstack/react-query.
//
// Every case runs interleaved with the others, medians. `--write` puts the tables into the
// generated `client-bench` block of docs/PERFORMANCE.md. `--sizes-only` prints the bundle table
// alone (no timing: seconds instead of minutes, for size work).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { QueryClient, QueryObserver, notifyManager } from '@tanstack/query-core';
import { createClient } from '../src/client/index.js';
import { buildApp } from '../test/vite-build.js';
import { BASELINE, prepareBaseline } from './baseline.mjs';

// LISTS × PAGES instances; one list (PAGES instances) is invalidated. Defaults: 10 000 and 1 %.
const LISTS = Number(process.env.LISTS ?? 100);
const PAGES = Number(process.env.PAGES ?? 100);
const N = LISTS * PAGES;
const AFFECTED = PAGES; // 1 %
const WARMUP = 3;
const REPS = Number(process.env.REPS ?? 15);
const SETUP_REPS = Number(process.env.SETUP_REPS ?? 5);
const benchDir = fileURLToPath(new URL('.', import.meta.url));
const docPath = fileURLToPath(new URL('../../docs/PERFORMANCE.md', import.meta.url));

const bundle = (l, p) => ({
  todo_list: [0, 1, 2].map((i) => ({ id: l * 100_000 + p * 10 + i, title: `todo ${l}/${p}/${i}`, done: i === 0 })),
});
const never = new Promise(() => {});
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const nextTask = () => new Promise((r) => setTimeout(r, 0));

function payload() {
  const instances = [];
  for (let l = 0; l < LISTS; l++) for (let p = 0; p < PAGES; p++) instances.push({ context: 'todos', params: { list_id: l, page: p }, data: bundle(l, p) });
  return { version: 1, instances };
}

// ---- Mizan (either version: same public API) -------------------------------------------------

function setupMizan(create) {
  const s = { fetches: 0, notified: 0, target: 0, tEnd: 0, pendingCall: null };
  const transport = {
    fetch: () => {
      s.fetches++;
      return never;
    },
    call: () => new Promise((resolve) => (s.pendingCall = resolve)),
    session: async () => ({ csrfToken: null }),
  };
  const hydrate = payload();
  const t0 = performance.now();
  const client = create({ transport, listen: false, staleTime: Infinity, gcTime: Infinity, maxInstances: 2 * N, hydrate });
  const onChange = () => {
    if (++s.notified === s.target) s.tEnd = performance.now();
  };
  for (let l = 0; l < LISTS; l++) for (let p = 0; p < PAGES; p++) client.subscribe('todos', { list_id: l, page: p }, onChange);
  client.instanceCount(); // the subscriptions have reached the kernel
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
  await nextTask(); // the call went out
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

async function sizes(name, pkg) {
  const built = await buildApp(name, { src: join(benchDir, 'apps', name), logLevel: 'error', pkg });
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
const fmt = (x) => (x >= 100 ? `${x.toFixed(0)} ms` : `${x.toFixed(2)} ms`);
const pad = (s, n) => String(s).padStart(n);

/** The bundle table of the four builds. */
function bundleLines(sz) {
  const lines = ['Bundle (Vite 8 production build of the same small React app; gzip -9)', ''];
  lines.push('app                                        JS gzip   wasm gzip  total gzip   over React   (raw JS / wasm)');
  lines.push('-----------------------------------------  --------  ---------  ----------  -----------  -----------------');
  const base = sz.react.js + sz.react.wasm;
  for (const [k, label] of [['react', 'React 19 alone'], ['before', 'React + @mizan/kernel-wasm/react, before'], ['after', 'React + @mizan/kernel-wasm/react, after'], ['tanstack', 'React + @tanstack/react-query']]) {
    const s = sz[k];
    const total = s.js + s.wasm;
    lines.push(`${label.padEnd(41)}  ${pad(kb(s.js), 8)}  ${pad(s.wasm ? kb(s.wasm) : '—', 9)}  ${pad(kb(total), 10)}  ${pad(k === 'react' ? '—' : `+${kb(total - base)}`, 11)}  ${kb(s.jsRaw)} / ${s.wasmRaw ? kb(s.wasmRaw) : '—'}`);
  }
  lines.push('', `after over React: +${kb(sz.after.js + sz.after.wasm - base)} (target ≤ 60 KiB)`);
  return lines;
}

async function allSizes(baseDir) {
  return {
    react: await sizes('react-baseline'),
    before: await sizes('react-mizan', baseDir),
    after: await sizes('react-mizan'),
    tanstack: await sizes('react-tanstack'),
  };
}

async function main() {
  if (process.argv.includes('--sizes-only')) {
    console.log(bundleLines(await allSizes(await prepareBaseline())).join('\n'));
    return;
  }
  // Each repetition invalidates a fresh list on each Mizan path of each version.
  assert.ok(LISTS >= 2 * (WARMUP + REPS), `LISTS must be at least ${2 * (WARMUP + REPS)} for ${REPS} repetitions`);
  const baseDir = await prepareBaseline();
  const before = (await import(pathToFileURL(join(baseDir, 'src/client/index.js')).href)).createClient;
  const after = createClient;

  // Setup, interleaved: one fresh cache per round and side.
  const setup = { before: [], after: [], tanstack: [] };
  for (let r = 0; r < SETUP_REPS; r++) {
    for (const [k, make] of [['before', () => setupMizan(before)], ['after', () => setupMizan(after)], ['tanstack', setupTanstack]]) {
      const s = make();
      setup[k].push(s.setupMs);
      s.client?.close();
      s.qc?.clear();
      await nextTask();
    }
  }

  const mb = setupMizan(before);
  const ma = setupMizan(after);
  const tq = setupTanstack();
  const rows = { beforeResponse: [], afterResponse: [], beforeInvalidate: [], afterInvalidate: [], tanstack: [] };
  // Fresh instances every repetition (a list whose refetches are still running would coalesce,
  // as it should), every case interleaved so load changes hit every row alike.
  for (let r = 0, list = 0; r < WARMUP + REPS; r++, list += 2) {
    const x = {
      beforeResponse: await mizanResponse(mb, list),
      afterResponse: await mizanResponse(ma, list),
      beforeInvalidate: mizanInvalidate(mb, list + 1),
      afterInvalidate: mizanInvalidate(ma, list + 1),
      tanstack: await tanstackInvalidate(tq, r),
    };
    if (r >= WARMUP) for (const k of Object.keys(rows)) rows[k].push(x[k]);
  }
  const tqCalls = tq.calls;
  mb.client.close();
  ma.client.close();

  const sz = process.env.SIZES !== '0' ? await allSizes(baseDir) : {};

  const m = (k) => median(rows[k]);
  const sm = (k) => median(setup[k]);
  const tqVersion = (await import('@tanstack/query-core/package.json', { with: { type: 'json' } })).default.version;
  const lines = [];
  const say = (s = '') => lines.push(s);
  say(`Node ${process.version}, ${cpus()[0]?.model ?? '?'} × ${cpus().length}; load ${loadavg()[0].toFixed(1)}; before = ${BASELINE}, after = this tree`);
  say(`@tanstack/query-core ${tqVersion}, notifyManager on queueMicrotask; medians of ${REPS} interleaved repetitions (after ${WARMUP} warm-up), setup of ${SETUP_REPS}`);
  say('');
  say(`${N} observed instances, one response invalidating ${AFFECTED} (${((100 * AFFECTED) / N).toFixed(0)} %): time to apply and notify`);
  say('');
  say('case                                                    median        min        max');
  say('------------------------------------------------------  ---------  ---------  ---------');
  const line = (label, k) => say(`${label.padEnd(54)}  ${pad(fmt(m(k)), 9)}  ${pad(fmt(Math.min(...rows[k])), 9)}  ${pad(fmt(Math.max(...rows[k])), 9)}`);
  line('before: call response (body + header) → notify', 'beforeResponse');
  line('after:  call response (body + header) → notify', 'afterResponse');
  line('before: client.invalidate(entries) → notify', 'beforeInvalidate');
  line('after:  client.invalidate(entries) → notify', 'afterInvalidate');
  line('TanStack: invalidateQueries({predicate}) → notify', 'tanstack');
  say('');
  say(`setup (${N} instances observed; median):  before ${fmt(sm('before'))}, after ${fmt(sm('after'))}, TanStack ${fmt(sm('tanstack'))}`);
  const vs = (a, b) => (a / b).toFixed(2);
  say(`after ÷ TanStack: response ${vs(m('afterResponse'), m('tanstack'))}×, invalidate ${vs(m('afterInvalidate'), m('tanstack'))}× (target ≤ 0.50×); setup ${vs(sm('after'), sm('tanstack'))}× (target ≤ 1.00×)`);
  say(`per repetition: ${AFFECTED} listeners called and ${AFFECTED} fetches started on every side (TanStack listener calls in the last repetition: ${tqCalls})`);
  if (sz.react) for (const l of ['', ...bundleLines(sz)]) say(l);
  console.log(lines.join('\n'));

  if (process.argv.includes('--write')) {
    const ratio = (a, b) => `${(a / b).toFixed(2)}×`;
    const table = [
      '| | before | after | TanStack Query | after ÷ TanStack | target |',
      '|---|---|---|---|---|---|',
      `| one response invalidating ${AFFECTED} of ${N} observed instances, apply + notify | ${fmt(m('beforeResponse'))} | ${fmt(m('afterResponse'))} | ${fmt(m('tanstack'))} | ${ratio(m('afterResponse'), m('tanstack'))} | ≤ 0.50× |`,
      `| \`client.invalidate\` of the same ${AFFECTED} | ${fmt(m('beforeInvalidate'))} | ${fmt(m('afterInvalidate'))} | ${fmt(m('tanstack'))} | ${ratio(m('afterInvalidate'), m('tanstack'))} | ≤ 0.50× |`,
      `| setup: ${N} instances hydrated and observed | ${fmt(sm('before'))} | ${fmt(sm('after'))} | ${fmt(sm('tanstack'))} | ${ratio(sm('after'), sm('tanstack'))} | ≤ 1.00× |`,
    ];
    if (sz.react) {
      const over = (k) => sz[k].js + sz[k].wasm - (sz.react.js + sz.react.wasm);
      table.push(
        `| bundle over React alone, gzip (JS + wasm) | +${kb(over('before'))} | +${kb(over('after'))} (${kb(sz.after.js - sz.react.js)} JS + ${kb(sz.after.wasm)} wasm) | +${kb(over('tanstack'))} | | ≤ 60 KiB |`,
      );
    }
    const block = `${table.join('\n')}\n\n\`\`\`\n${lines.join('\n')}\n\`\`\``;
    // The generated-block convention of scripts/docblock.py (also used by scripts/sizes.sh).
    const doc = readFileSync(docPath, 'utf8');
    const re = /(<!-- generated: client-bench \(.*?\) -->\n)[^]*?(<!-- end: client-bench -->)/;
    if (!re.test(doc)) throw new Error('docs/PERFORMANCE.md has no generated client-bench block');
    writeFileSync(docPath, doc.replace(re, (_, open, close) => `${open}${block}\n${close}`));
    console.log(`\nwrote the client-bench block of ${docPath}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
