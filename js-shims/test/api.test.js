// The wrapper's own contract: error shape, argument translation, keyer cache, resources.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as api from '../src/index.js';

const {
  MizanKernelError,
  Registry,
  applyMerge,
  canonicalJson,
  checkSecret,
  createKeyer,
  deriveCacheKey,
  deriveCacheKeyRotation,
  parseInvalidateHeader,
  stringify,
} = api;

const SECRET = 'test-pin-secret-that-is-32bytes!';
const PINNED = 'ctx:user:605a1ca5ad5994e9b765c8d1b330474c2a0d51a7b8fbbdc402f992da7ba902f6';
const KDL = 'mizan-ir version=1\n\nfunction user_profile context=user output=integer {\n    input user_id type=integer\n}\n\nfunction rename output=integer {\n    input user_id type=integer\n    affects user\n}\n';

function kernelError(fn) {
  try {
    fn();
  } catch (e) {
    return e;
  }
  assert.fail('expected a throw');
}

test('kernel errors are MizanKernelError with code, message and parsed details', () => {
  const e = kernelError(() => parseInvalidateHeader('a;k=%zz'));
  assert.ok(e instanceof MizanKernelError);
  assert.ok(e instanceof Error);
  assert.equal(e.name, 'MizanKernelError');
  assert.equal(e.code, 'invalid-header');
  assert.deepEqual(e.details, { position: 4 });
  assert.match(e.message, /two hex digits/);
  assert.ok(typeof e.stack === 'string');

  const ir = kernelError(() => Registry.fromKdl('mizan-ir version=1\nfunction {'));
  assert.equal(ir.code, 'invalid-ir');
  assert.deepEqual(Object.keys(ir.details).sort(), ['column', 'line']);

  const nf = kernelError(() => Registry.fromKdl(KDL).contextPolicy('nope'));
  assert.equal(nf.code, 'not-found');
  assert.equal(nf.details, null);

  assert.equal(kernelError(() => checkSecret('')).code, 'invalid-argument');
  assert.equal(kernelError(() => createKeyer('')).code, 'invalid-argument');
  assert.equal(kernelError(() => deriveCacheKey('', 'user', {})).code, 'invalid-argument');
  assert.equal(kernelError(() => deriveCacheKey(SECRET, 'user', [1])).code, 'invalid-json');
  assert.equal(kernelError(() => deriveCacheKey(SECRET, 'user', {}, { user: { id: 1 } })).code, 'invalid-argument');
});

test('values cross as JSON text; non-JSON values are refused, not coerced', () => {
  assert.equal(stringify('abc'), 'abc');
  assert.equal(stringify(1.0), '1');
  assert.equal(stringify(1e21), '1e+21');
  assert.equal(stringify(-0), '0');
  assert.equal(stringify(null), 'null');
  assert.equal(stringify({ b: 1, a: [true] }), '{"a":[true],"b":1}');
  assert.equal(canonicalJson({ '\u{1F600}': 2, '\uFB01': 1, a: 'é\n' }), '{"a":"é\\n","😀":2,"ﬁ":1}');
  for (const bad of [NaN, Infinity, -Infinity, { x: [NaN] }]) {
    assert.equal(kernelError(() => stringify(bad)).code, 'invalid-json', String(bad));
  }
  assert.equal(stringify([null]), '[null]'); // a real null still passes
  assert.equal(kernelError(() => stringify(undefined)).code, 'invalid-json');
  assert.equal(kernelError(() => stringify(() => 1)).code, 'invalid-json');
  assert.throws(() => stringify(1n), TypeError); // JSON.stringify's own refusal
});

test('rev is a u32: out-of-range or fractional revs are refused, not wrapped', () => {
  for (const rev of [-1, 1.5, 2 ** 32, NaN, '1']) {
    const e = kernelError(() => deriveCacheKey(SECRET, 'user', { user_id: '5' }, { rev }));
    assert.equal(e.code, 'invalid-argument', String(rev));
  }
  assert.equal(deriveCacheKey(SECRET, 'user', { user_id: '5' }, { rev: 0 }), PINNED);
  assert.notEqual(deriveCacheKey(SECRET, 'user', { user_id: '5' }, { rev: 2 ** 32 - 1 }), PINNED);
});

test('wrong JS types are TypeErrors and do not disturb the instance', () => {
  const before = api.instanceGeneration();
  assert.throws(() => deriveCacheKey(SECRET, 5, {}), TypeError);
  assert.throws(() => deriveCacheKey(5, 'user', {}), TypeError);
  assert.throws(() => deriveCacheKeyRotation('x', 'user', {}), TypeError);
  assert.throws(() => Registry.fromKdl(null), TypeError);
  assert.throws(() => new Registry({}), TypeError);
  assert.throws(() => Registry.fromKdl(KDL).resolveInvalidation('rename', {}, { subject: {} }), TypeError);
  assert.throws(() => createKeyer(SECRET).purgeUserPlan(['user'], { id: 1 }), TypeError);
  assert.throws(() => api.Store.create().subscribe('user', {}, -1), MizanKernelError);
  assert.equal(api.instanceGeneration(), before);
});

test('user: absent or null is a public entry; numbers and strings alike', () => {
  const pub = deriveCacheKey(SECRET, 'user', { user_id: '5' });
  assert.equal(pub, PINNED);
  assert.equal(deriveCacheKey(SECRET, 'user', { user_id: '5' }, { user: null }), pub);
  assert.equal(
    deriveCacheKey(SECRET, 'user', { user_id: 5 }, { user: 5 }),
    deriveCacheKey(SECRET, 'user', { user_id: '5' }, { user: '5' }),
  );
  const k = createKeyer(SECRET);
  assert.deepEqual(k.purgeUserPlan(['user'], 5), k.purgeUserPlan(['user'], '5'));
});

test('the per-secret keyer cache is bounded and keeps keys right', () => {
  const keys = [];
  for (let i = 0; i < 20; i++) keys.push(deriveCacheKey(`secret-${i}`, 'c', { i }));
  for (let i = 19; i >= 0; i--) assert.equal(deriveCacheKey(`secret-${i}`, 'c', { i }), keys[i]);
  assert.equal(new Set(keys).size, 20);
});

test('rotation: current key first, then the old ones', () => {
  const [cur, old] = deriveCacheKeyRotation([SECRET, 'old-secret'], 'user', { user_id: '5' });
  assert.equal(cur, PINNED);
  assert.equal(old, deriveCacheKey('old-secret', 'user', { user_id: '5' }));
});

test('Registry: KDL and JSON forms, invalidation with subject, policy, manifest, dispose', () => {
  const reg = Registry.fromKdl(KDL);
  const again = Registry.fromJson(reg.toJson());
  assert.equal(again.toKdl(), reg.toKdl());
  assert.equal(Registry.fromJson(JSON.stringify(reg.toJson())).toKdl(), reg.toKdl());
  assert.deepEqual(reg.resolveInvalidation('rename', { user_id: 7 }), {
    invalidate: [{ context: 'user', params: { user_id: 7 } }],
    header: 'user;user_id=7',
  });
  assert.deepEqual(reg.resolveInvalidation('rename', {}, { subject: 9 }), reg.resolveInvalidation('rename', {}, { subject: '9' }));
  assert.deepEqual(reg.contextPolicy('user'), { rev: 0, cacheable: true, ttlSeconds: null });
  assert.equal(typeof reg.manifest('/api/mizan'), 'object');
  reg[Symbol.dispose ?? Symbol.for('dispose')]();
  assert.equal(reg.toKdl(), again.toKdl()); // recreated on use after dispose
});

test('applyMerge returns the new bundle, or null when nothing changes', () => {
  const bundle = { items_list: [{ id: 1, name: 'a' }] };
  const entry = { context: 'items', slot: 'items_list', value: { id: 1, name: 'b' } };
  assert.deepEqual(applyMerge(bundle, entry), { items_list: [{ id: 1, name: 'b' }] });
  assert.equal(applyMerge({ items_list: [{ id: 1, name: 'b' }] }, entry), null);
});

test('Store: subscribe, drain, fetch, snapshot through the wrapper', () => {
  const store = api.Store.create({ stale_time_ms: 1000 });
  store.start();
  const key = store.subscribe('user', { user_id: 5 }, 1000);
  assert.equal(typeof key, 'string');
  const drained = store.drain(1000);
  assert.ok(Array.isArray(drained.effects));
  const fetch = drained.effects.find((e) => e.type === 'fetch');
  assert.ok(fetch, JSON.stringify(drained));
  store.fetchOk(fetch.request_id, { user_profile: { name: 'R' } }, 1100);
  const snap = store.snapshot(key, 1100);
  assert.equal(snap.status, 'success');
  assert.deepEqual(snap.data, { user_profile: { name: 'R' } });
  assert.equal(store.snapshot('nope', 1100), null);
  assert.equal(store.instanceCount(), 1);
  assert.equal(kernelError(() => store.fetchOk(1, { a: NaN }, 1)).code, 'invalid-json');
});

test('server: fetch plan -> finishFetch -> OriginStore put; call plan -> finishCall -> purge', () => {
  const engine = api.Engine.create(Registry.fromKdl(KDL), { cacheSecret: 'a-cache-secret-of-32-bytes-long!' });
  assert.deepEqual(engine.warnings(), []);
  const p = engine.plan({ method: 'GET', path: '/api/mizan/ctx/user/', query: 'user_id=5' }, 1000);
  assert.deepEqual(p.fetch.params, { user_id: 5 });
  assert.equal(p.fetch.cache.ttlSeconds, 86400);
  const f = engine.finishFetch(p.fetch.context, p.fetch.cache, { results: [{ function: 'user_profile', outcome: { ok: 7 } }] });
  assert.equal(f.response.status, 200);
  assert.deepEqual(new Map(f.response.headers).get('X-Mizan-Cache'), 'MISS');
  const origin = new api.OriginStore();
  assert.equal(origin.put(f.cachePut.key, f.cachePut.body, f.cachePut.indexKeys, f.cachePut.ttlSeconds, 1000), true);
  assert.equal(origin.get(f.cachePut.key, 2000), '{"user_profile":7}');

  const headers = new Headers({ 'content-type': 'application/json' });
  const body = new TextEncoder().encode(JSON.stringify({ fn: 'rename', args: { user_id: 5 } }));
  const c = engine.plan({ method: 'POST', path: '/api/mizan/call/', headers, body }, 2000);
  assert.deepEqual(c.call.args, { user_id: 5 });
  const done = engine.finishCall(c.call, { ok: 1 });
  assert.equal(new Map(done.response.headers).get('X-Mizan-Invalidate'), 'user;user_id=5');
  assert.deepEqual(origin.purge(done.purge), [f.cachePut.key]);
  assert.equal(origin.len(), 0);
  assert.equal(origin.indexSets(), 0);

  assert.equal(engine.errorResponse({ code: 'FORBIDDEN', message: 'no' }).status, 403);
  assert.equal(engine.errorResponse({ code: 'forbidden', message: 'no' }).status, 403);
  assert.equal(engine.finishCall({ function: 'rename', args: { user_id: 5 } }, { error: { code: 'NOT_FOUND', message: 'gone' } }).response.status, 404);
  assert.equal(typeof api.redisPutScript(), 'string');
  assert.equal(api.redisPlanJson({ scopes: [] }), '{"scopes":[]}');
});

test('the glue reads the memory right after it grew (its view of the memory is renewed)', () => {
  const engine = api.Engine.create(Registry.fromKdl(KDL), { cacheSecret: 'a-cache-secret-of-32-bytes-long!' });
  const request = { method: 'GET', path: '/api/mizan/ctx/user/', query: 'user_id=5' };
  const before = engine.plan(request, 1000);
  const origin = new api.OriginStore();
  for (const size of [1, 4, 16].map((m) => m * 1024 * 1024)) {
    // A body this large makes the kernel grow its memory, detaching the buffer the glue viewed.
    const big = `"${'x'.repeat(size)}"`;
    assert.equal(origin.put(`k${size}`, big, [], 60, 1000), true);
    assert.equal(origin.get(`k${size}`, 1000).length, big.length);
    assert.deepEqual(engine.plan(request, 1000), before, 'small calls after the growth read the same');
  }
});

test('server: tokens round-trip; refusals carry {reason}', () => {
  const engine = api.Engine.create({ functions: {} }, { mwtSecret: 'an-mwt-secret-that-is-32-bytes!!', jwtSecret: 'a-jwt-secret-that-is-32-bytes!!!' });
  const now = 1_700_000_000_000;
  const mwt = engine.mintMwt({ subject: 7, staff: true }, now);
  const claims = engine.verifyMwt(mwt, now);
  assert.deepEqual(claims, { kind: 'mwt', subject: '7', staff: true, superuser: false, perm: null, sessionId: null, issuedAt: now / 1000, expiresAt: now / 1000 + 300 });
  const e = kernelError(() => engine.verifyMwt(mwt, now + 301_000));
  assert.equal(e.code, 'invalid-argument');
  assert.deepEqual(e.details, { reason: 'expired' });
  const pair = engine.mintJwtPair({ subject: '7' }, 's1', now);
  assert.equal(engine.verifyJwt(pair.refresh, 'refresh', now).sessionId, 's1');
  assert.equal(kernelError(() => engine.verifyJwt(pair.access, 'refresh', now)).details.reason, 'wrong-kind');
});
