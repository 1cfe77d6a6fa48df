import { mizanHandler } from '@mizan/kernel-wasm/server';
import { handle } from '../../js-shims/src/server/flow.js';
import { functions, wireOptions } from './functions.js';
import { loadHandlerAt } from './bench-compare.mjs';
import { pathToFileURL } from 'node:url';
const quiet = { warn() {}, error() {} };
const before = await loadHandlerAt('77a82a2');
const oldFlow = await import(new URL('flow.js', pathToFileURL(before.dir + '/')).href);
const appNew = mizanHandler(functions, { ...wireOptions('memory'), logger: quiet }).app;
const appOld = before.mizanHandler(functions, { ...wireOptions('memory'), logger: quiet }).app;
const hostReq = new Request('http://app/api/mizan/call/', { method: 'POST' });
const reqs = {
  call: { method: 'POST', path: '/api/mizan/call/', query: '', headers: [], body: '{"fn":"item_count","args":{}}' },
  hit: { method: 'GET', path: '/api/mizan/ctx/items/', query: 'page=1', headers: [], body: '' },
  session: { method: 'GET', path: '/api/mizan/session/', query: '', headers: [], body: '' },
};
const fns = {
  new: (r) => handle(appNew, r, hostReq),
  old: async (r) => { const who = await oldFlow.identify(appOld, hostReq); return who.response ?? oldFlow.handle(appOld, r, hostReq, who.identity); },
};
const res = {};
for (let round = 0; round < 9; round++) for (const [rn, r] of Object.entries(reqs)) for (const [k, f] of Object.entries(fns)) {
  for (let i = 0; i < 300; i++) await f(r);
  const t0 = performance.now();
  for (let i = 0; i < 3000; i++) await f(r);
  (res[rn + ' ' + k] ??= []).push((performance.now() - t0) * 1000 / 3000);
}
for (const [k, v] of Object.entries(res)) console.log(k, v.sort((a, b) => a - b)[v.length >> 1].toFixed(1));
before.cleanup();
