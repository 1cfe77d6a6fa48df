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
