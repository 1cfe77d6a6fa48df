// The kernel from Node: `node js-shims/examples/demo.mjs` (after `npm run build` in js-shims).
import { readFileSync } from 'node:fs';
import { deriveCacheKey, formatInvalidateHeader, parseInvalidateHeader, Registry, Store } from '../src/index.js';

const secret = 'test-pin-secret-that-is-32bytes!';
const ir = readFileSync(new URL('../../tests/fixtures/ir/shop.kdl', import.meta.url), 'utf8');

console.log('1. cache key of user(user_id=5):', deriveCacheKey(secret, 'user', { user_id: 5 }));
const header = formatInvalidateHeader([{ context: 'user', params: { user_id: 5 } }, 'notifications']);
console.log('2. header:', header, '->', JSON.stringify(parseInvalidateHeader(header)));

const registry = Registry.fromKdl(ir);
const inv = registry.resolveInvalidation('update_profile', { user_id: 5, name: 'Ryth' });
console.log('3. update_profile invalidates', JSON.stringify(inv.invalidate), '| X-Mizan-Invalidate:', inv.header);

// 4. The client store, driven by hand: the effects it asks for, and what changes.
const store = Store.create({ seed: 1 });
const key = store.subscribe('user', { user_id: 5 }, 0);
const first = store.drain(0);
console.log('4. subscribe', key, '-> effects', JSON.stringify(first.effects.map((e) => e.type)));
const fetch = first.effects.find((e) => e.type === 'fetch');
store.fetchOk(fetch.request_id, { user_profile: { name: 'Ryth' } }, 10);
store.invalidate(inv.invalidate);
const after = store.drain(10);
console.log('   after the mutation: refetch', JSON.stringify(after.effects.map((e) => e.type)), 'changed', JSON.stringify(after.changed));
