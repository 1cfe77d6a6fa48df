// The kernel's per-request cost on the Node host (docs/PERFORMANCE.md "Server (Node)"): the engine
// calls one request costs — plan, then finishCall / finishFetch with the function's result already
// given (no user work, no HTTP, no store I/O) — against what a plain JS handler does for the same
// request (JSON.parse the body or parse the query, JSON.stringify the result); then the whole fetch
// handler in process (`Request` in, `Response` out, the in-memory store) against a plain fetch
// handler. The kernel's cost is given twice: the engine calls (plan + finish) and the exchange
// the server runs (begin + update until `respond`, the same canned answers). Wall time, median of
// 7 rounds of 2 000 requests.
//   node examples/node_app/bench.mjs
//   node examples/node_app/bench.mjs --compare=<git rev>   (the handler's flow at that commit beside today's)
import { mizanHandler } from '@mizan/kernel-wasm/server';
import os from 'node:os';
import { functions, wireOptions } from './functions.js';
import { loadHandlerAt } from './bench-compare.mjs';

const ROUNDS = 7;
const N = 2000;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** µs per request of each of `fns`, their rounds interleaved so a busy machine slows them alike. */
async function perRequest(...fns) {
  for (const fn of fns) for (let i = 0; i < 200; i++) await fn(i); // warm up
  const rounds = fns.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [k, fn] of fns.entries()) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < N; i++) await fn(i);
      rounds[k].push(Number(process.hrtime.bigint() - t0) / 1000 / N);
    }
  }
  return rounds.map((xs) => median(xs).toFixed(1));
}

const quiet = { warn() {}, error() {} };
const handler = mizanHandler(functions, { ...wireOptions('memory'), logger: quiet });
const uncached = mizanHandler(functions, { ...wireOptions(null), logger: quiet });
const { engine, server } = handler.app;
const now = () => Date.now();
const items = JSON.stringify([{ id: 1, name: 'apple', price: 1.5, category: 'fruit' }, { id: 2, name: 'bread', price: 2.25, category: 'bakery' }]);
const callBody = '{"fn":"item_count","args":{}}';
const renameBody = '{"fn":"rename_item","args":{"id":1,"name":"apple"}}';
const staff = { subject: '3', staff: true };
const request = (method, path, query = '', body = '') => ({ method, path, query, headers: [], body });

const kernel = {
  'POST /call/ item_count (no invalidation)': () => {
    const p = engine.plan(request('POST', '/api/mizan/call/', '', callBody), now());
    return engine.finishCall(p.call, { okJson: '3' });
  },
  'POST /call/ rename_item (invalidate 2 contexts, merge, purge plan, header)': () => {
    const p = engine.plan(request('POST', '/api/mizan/call/', '', renameBody), now(), { identity: staff });
    return engine.finishCall(p.call, { okJson: '{"id":1,"name":"apple","price":1.5,"category":"fruit"}' });
  },
  'GET /ctx/items/?page=1, cache hit (key + index keys, HIT response)': () => {
    const p = engine.plan(request('GET', '/api/mizan/ctx/items/', 'page=1'), now());
    return engine.finishFetch(p.fetch.context, p.fetch.cache, { hit: `{"item_count":3,"items_list":${items}}` });
  },
  'GET /ctx/items/?page=1, cache miss (key, index keys, bundle, put)': () => {
    const p = engine.plan(request('GET', '/api/mizan/ctx/items/', 'page=1'), now());
    return engine.finishFetch(p.fetch.context, p.fetch.cache, {
      results: [{ function: 'item_count', outcome: { okJson: '3' } }, { function: 'items_list', outcome: { okJson: items } }],
    });
  },
  'GET /session/': () => engine.plan(request('GET', '/api/mizan/session/'), now()),
};

/** One exchange to its response, each effect answered as `answers` says (no user work, no I/O). */
function converse(req, answers) {
  const begun = server.begin({ request: req, pending: null, now: now(), identity: null }); // asked for, as the handler's server (with the identity hook) does
  let effects = begun.effects;
  try {
    for (;;) {
      const events = [];
      for (const e of effects) {
        if (e.respond) return e.respond;
        if (e === 'resolveIdentity') events.push({ identity: answers.identity ?? null });
        else if (e.run) events.push({ ran: { outcomes: e.run.calls.map((c) => ({ okJson: answers.ok[c.function] })), pending: null } });
        else if (e.lookup !== undefined) events.push({ found: { body: answers.hit ?? null, ticket: 1 } });
        else if (e.put) events.push('stored');
        else if (e.purge) events.push('purged');
        else throw new Error(`bench: an effect it does not answer: ${JSON.stringify(e)}`);
      }
      effects = begun.exchange.update(events);
    }
  } finally {
    begun.exchange.free();
  }
}
const bundle = `{"item_count":3,"items_list":${items}}`;
const exchange = {
  'POST /call/ item_count (no invalidation)': () => converse(request('POST', '/api/mizan/call/', '', callBody), { ok: { item_count: '3' } }),
  'POST /call/ rename_item (invalidate 2 contexts, merge, purge plan, header)': () =>
    converse(request('POST', '/api/mizan/call/', '', renameBody), { identity: staff, ok: { rename_item: '{"id":1,"name":"apple","price":1.5,"category":"fruit"}' } }),
  'GET /ctx/items/?page=1, cache hit (key + index keys, HIT response)': () =>
    converse(request('GET', '/api/mizan/ctx/items/', 'page=1'), { hit: bundle }),
  'GET /ctx/items/?page=1, cache miss (key, index keys, bundle, put)': () =>
    converse(request('GET', '/api/mizan/ctx/items/', 'page=1'), { ok: { item_count: '3', items_list: items } }),
  'GET /session/': () => converse(request('GET', '/api/mizan/session/'), {}),
};

const itemCount = functions.functions.get('item_count').fn;
const itemsList = functions.functions.get('items_list').fn;
const plain = {
  'POST /call/ item_count (no invalidation)': () => {
    const c = JSON.parse(callBody);
    return JSON.stringify({ result: itemCount(null, c.args), invalidate: [] });
  },
  'POST /call/ rename_item (invalidate 2 contexts, merge, purge plan, header)': () => {
    const c = JSON.parse(renameBody);
    return JSON.stringify({ result: { id: c.args.id, name: c.args.name, price: 1.5, category: 'fruit' }, invalidate: ['items', 'item'] });
  },
  'GET /ctx/items/?page=1, cache miss (key, index keys, bundle, put)': () => {
    const q = new URLSearchParams('page=1');
    return JSON.stringify({ item_count: itemCount(null, {}), items_list: itemsList(null, { page: Number(q.get('page')) }) });
  },
};

console.log(`node ${process.version}; load average ${os.loadavg()[0].toFixed(2)}; µs per request, median of ${ROUNDS} rounds of ${N}\n`);
console.log('| request | kernel (plan + finish) | kernel (exchange) | plain JS |');
console.log('|---|---|---|---|');
for (const [name, fn] of Object.entries(kernel)) {
  const [k, x, p = '—'] = await perRequest(fn, exchange[name], ...(plain[name] ? [plain[name]] : []));
  console.log(`| \`${name}\` | ${k} | ${x} | ${p} |`);
}

const plainFetch = async (req) => {
  const url = new URL(req.url);
  if (req.method === 'POST') {
    const c = JSON.parse(await req.text());
    return new Response(JSON.stringify({ result: itemCount(null, c.args), invalidate: [] }), {
      headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
    });
  }
  const body = JSON.stringify({ item_count: itemCount(null, {}), items_list: itemsList(null, { page: Number(url.searchParams.get('page')) }) });
  return new Response(body, { headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' } });
};
const through = {
  'POST /call/ item_count': (h) => h(new Request('http://app/api/mizan/call/', { method: 'POST', body: callBody })).then((r) => r.text()),
  'GET /ctx/items/?page=1 (Mizan: in-memory cache hit; plain: runs both functions)': (h) =>
    h(new Request('http://app/api/mizan/ctx/items/?page=1')).then((r) => r.text()),
  'GET /ctx/items/?page=1 (no cache: both run)': (h, u) => u(new Request('http://app/api/mizan/ctx/items/?page=1')).then((r) => r.text()),
  'GET /session/': (h) => h(new Request('http://app/api/mizan/session/')).then((r) => r.text()),
};
const rev = process.argv.find((a) => a.startsWith('--compare='))?.slice('--compare='.length);
const before = rev ? await loadHandlerAt(rev) : null;
const old = before && { handler: before.mizanHandler(functions, { ...wireOptions('memory'), logger: quiet }), uncached: before.mizanHandler(functions, { ...wireOptions(null), logger: quiet }) };
console.log('\nThrough the fetch handler in process (Request in, Response text out), µs per request:\n');
console.log(`| request | mizanHandler |${old ? ` mizanHandler at ${rev} |` : ''} plain fetch handler |`);
console.log(`|---|---|${old ? '---|' : ''}---|`);
for (const [name, fn] of Object.entries(through)) {
  const runs = [() => fn(handler, uncached)];
  if (old) runs.push(() => fn(old.handler, old.uncached));
  if (!name.startsWith('GET /session/')) runs.push(() => fn(plainFetch, plainFetch));
  const [m, ...rest] = await perRequest(...runs);
  const o = old ? ` ${rest.shift()} |` : '';
  console.log(`| \`${name}\` | ${m} |${o} ${rest[0] ?? '—'} |`);
}
before?.cleanup();
