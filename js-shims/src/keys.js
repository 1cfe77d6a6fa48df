// Cache keys (KERNEL.md §2, §2.1): secrets, keys, the keyer, purge plans.
// This file only translates: JS values in as JSON text, JSON text out through JSON.parse, kernel
// errors to MizanKernelError. Every rule lives in the kernel (src/kernel/full.js).
import { runtime } from './kernel/full.js';
import { KernelResource } from './kernel/resource.js';
import { json, str, strList, u32 } from './kernel/values.js';
import { stringify } from './values.js';

const call = runtime.call;

/** `option<string>` JSON for a user subject: absent → none (public entry). */
function userJson(user) {
  return user === undefined ? undefined : json('user', user);
}

/** A user subject as the string the WIT takes; numbers are stringified by the kernel. */
export function subject(name, value) {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return stringify(value);
  throw new TypeError(`${name} must be a string or a number, got ${typeof value}`);
}

/** A purge plan as the WIT record's camelCase object. */
export const plan = (p) => ({
  scopes: p.scopes.map((s) => ({
    base: s.base,
    terms: s.terms.map((t) => ({ hasParam: t.hasParam, paramEquals: t.paramEquals })),
  })),
});

/** Warnings about a usable secret (shorter than 32 bytes); throws for an empty one. */
export function checkSecret(secret) {
  str('secret', secret);
  return call((k) => k.keys.checkSecret(secret));
}

/** Keys under one secret; the HMAC key schedule is computed once. */
export class Keyer extends KernelResource {
  /** Use createKeyer(secret). */
  constructor(secret) {
    str('secret', secret);
    super(runtime, (k) => k.keys.Keyer.create(secret));
  }


  /** `ctx:{context}:{hex}`. */
  derive(context, params = {}, { user, rev } = {}) {
    str('context', context);
    const p = json('params', params);
    const u = userJson(user);
    const r = u32('rev', rev);
    return this._do((h) => h.derive(context, p, u, r));
  }

  /** One key per item `{context, params?, user?, rev?}`, in order. */
  deriveBatch(items) {
    const t = json('items', items);
    return this._do((h) => h.deriveBatch(t));
  }

  /** The entry key and the reverse-index sets it belongs to: `{key, indexKeys}`. */
  indexEntry(context, params = {}, { user, rev } = {}) {
    str('context', context);
    const p = json('params', params);
    const u = userJson(user);
    const r = u32('rev', rev);
    return this._do((h) => {
      const e = h.indexEntry(context, p, u, r);
      return { key: e.key, indexKeys: e.indexKeys };
    });
  }

  /** The purge plan for invalidation entries (`"ctx"` or `{context, params?}`). */
  purgePlan(entries) {
    const t = json('entries', entries);
    return this._do((h) => plan(h.purgePlan(t)));
  }

  /** Every entry of one user (a string, or a number the kernel stringifies) in the contexts. */
  purgeUserPlan(contexts, user) {
    strList('contexts', contexts);
    const u = subject('user', user);
    return this._do((h) => plan(h.purgeUserPlan(contexts, u)));
  }

}

/** A keyer for one secret (throws `invalid-argument` for an empty secret). */
export function createKeyer(secret) {
  return new Keyer(secret);
}

const KEYER_CACHE_SIZE = 8;
const keyers = new Map();

function keyerFor(secret) {
  str('secret', secret);
  let keyer = keyers.get(secret);
  if (keyer === undefined) {
    keyer = new Keyer(secret);
    if (keyers.size >= KEYER_CACHE_SIZE) keyers.delete(keyers.keys().next().value);
    keyers.set(secret, keyer);
  }
  return keyer;
}

/** `ctx:{context}:{hex}`; `params` is a JSON object, `user` a string or number (absent: public). */
export function deriveCacheKey(secret, context, params = {}, { user, rev } = {}) {
  return keyerFor(secret).derive(context, params, { user, rev });
}

/** Keys for many `{context, params?, user?, rev?}` items under one secret, in one call. */
export function deriveCacheKeys(secret, items) {
  return keyerFor(secret).deriveBatch(items);
}

/** The key under each secret, current first, for reading through a rotation window. */
export function deriveCacheKeyRotation(secrets, context, params = {}, { user, rev } = {}) {
  strList('secrets', secrets);
  str('context', context);
  const p = json('params', params);
  const u = userJson(user);
  const r = u32('rev', rev);
  return call((k) => k.keys.deriveCacheKeyRotation(secrets, context, p, u, r));
}
