// Every vector in tests/vectors/kernel-vectors.json through the JS API.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  Registry,
  createKeyer,
  deriveCacheKey,
  deriveCacheKeys,
  formatInvalidateHeader,
  parseInvalidateHeader,
} from '../src/index.js';
import { deriveCacheKeyJs, keyMessageJs } from '../bench/js-peer.js';

const vectors = JSON.parse(readFileSync(new URL('../../tests/vectors/kernel-vectors.json', import.meta.url), 'utf8'));

test('cache_keys: deriveCacheKey, Keyer.derive and deriveCacheKeys reproduce every key', () => {
  assert.ok(vectors.cache_keys.length > 0);
  for (const v of vectors.cache_keys) {
    const opts = { user: v.user, rev: v.rev };
    assert.equal(deriveCacheKey(v.secret, v.context, v.params, opts), v.key, v.id);
    assert.equal(createKeyer(v.secret).derive(v.context, v.params, opts), v.key, `${v.id} (keyer)`);
    const item = { context: v.context, params: v.params, rev: v.rev };
    if (v.user !== undefined) item.user = v.user;
    assert.deepEqual(deriveCacheKeys(v.secret, [item, item]), [v.key, v.key], `${v.id} (batch)`);
  }
});

test('cache_keys: the benchmark JS peer computes the same messages and keys', () => {
  for (const v of vectors.cache_keys) {
    assert.equal(keyMessageJs(v.context, v.params, v.user, v.rev), v.message, v.id);
    assert.equal(deriveCacheKeyJs(v.secret, v.context, v.params, { user: v.user, rev: v.rev }), v.key, v.id);
  }
});

test('header: format gives the vector, parse gives the entries back (values as strings)', () => {
  assert.ok(vectors.header.length > 0);
  for (const v of vectors.header) {
    assert.equal(formatInvalidateHeader(v.entries), v.header);
    const expected = v.entries.map((e) =>
      typeof e === 'string'
        ? e
        : { ...e, params: Object.fromEntries(Object.entries(e.params ?? {}).map(([k, x]) => [k, String(x)])) },
    );
    assert.deepEqual(parseInvalidateHeader(v.header), expected, v.header);
    assert.equal(formatInvalidateHeader(parseInvalidateHeader(v.header)), v.header);
  }
});

test('merge: resolution against the vector registry', () => {
  assert.ok(vectors.merge.length > 0);
  for (const v of vectors.merge) {
    const reg = Registry.fromJson(v.registry);
    const { merge, diagnostics } = reg.resolveMerges(v.call.fn, v.call.args, v.call.result);
    assert.deepEqual(merge, v.expect.merge, v.note);
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(reg.resolveInvalidation(v.call.fn, v.call.args).invalidate, v.expect.invalidate, v.note);
  }
});
