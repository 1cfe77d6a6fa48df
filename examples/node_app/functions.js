// The wire app's functions (tests/wire/README.md "How an app must behave"), registered with
// defineFunctions: the same as examples/fastapi_app/functions.py and examples/axum_app. Their
// registry is tests/wire/app.kdl byte for byte (a test checks it). State is in memory, per
// process: four users, three items, orders. Identity comes from the kernel (a token) or the
// app's session stand-in (`X-Wire-User`), and a function reads it from its `ctx`.
import { createHmac, timingSafeEqual } from 'node:crypto';
import {
  defineFunctions, exactNumber, Forbidden, NotFound, NotImplemented, ProtocolError, requestHeader, Unauthorized, ValidationFailed,
} from '@mizan/kernel-wasm/server';

/** id → account; `reports` is what the predicate `has_reports` reads. */
export const USERS = new Map([
  [1, { name: 'alice', staff: false, superuser: false, reports: true }],
  [2, { name: 'bob', staff: false, superuser: false, reports: false }],
  [3, { name: 'carol', staff: true, superuser: false, reports: true }],
  [4, { name: 'root', staff: true, superuser: true, reports: false }],
]);
export const ITEMS = new Map([
  [1, { id: 1, name: 'apple', price: 1.5, category: 'fruit' }],
  [2, { id: 2, name: 'bread', price: 2.25, category: 'bakery' }],
  // `7.0`, not `7`, on the wire: the bytes the Python and Rust apps send (a JS number has no float form).
  [3, { id: 3, name: 'cheese', price: exactNumber('7.0'), category: 'dairy' }],
]);
const ORDERS = [];
const PAGE_SIZE = 2;
/** What `counter_value` reads and `bump_counter` raises. */
const counter = { value: 0 };

const DIGITS = /^[0-9]+$/;

/**
 * The app's stand-in for a session: `X-Wire-User: <id>` of a known user, as the header spells it
 * (`01` is user 1: the kernel canonicalises the subject). `raise` stands for a session store
 * that fails: the lookup throws.
 */
export function sessionIdentity(userId) {
  if (userId === 'raise') throw new Error('the session store is down');
  if (!userId || !DIGITS.test(userId)) return null;
  const u = USERS.get(Number(userId));
  return u ? { subject: userId, staff: u.staff, superuser: u.superuser } : null;
}

/** How old a webhook's signature may be (Stripe's default tolerance), seconds. */
export const WEBHOOK_TOLERANCE = 300;

/**
 * Stripe's scheme: `Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
 * (several `v1` during a secret rotation): one `v1` must match, compared in constant time, and `t`
 * be within the tolerance.
 */
export function webhookSignatureOk(header, payload, secret, now = Date.now() / 1000) {
  if (!header) return false;
  const parts = header.split(',').filter((p) => p.includes('=')).map((p) => [p.slice(0, p.indexOf('=')).trim(), p.slice(p.indexOf('=') + 1).trim()]);
  const stamps = parts.filter(([k]) => k === 't').map(([, v]) => v);
  const given = parts.filter(([k]) => k === 'v1').map(([, v]) => v);
  if (stamps.length !== 1 || !DIGITS.test(stamps[0]) || given.length === 0) return false;
  const t = Number(stamps[0]);
  if (Math.abs(now - t) > WEBHOOK_TOLERANCE) return false;
  const expected = createHmac('sha256', secret).update(`${stamps[0]}.`).update(payload).digest();
  return given.some((g) => {
    const sig = Buffer.from(g, 'hex');
    return sig.length === expected.length && timingSafeEqual(sig, expected);
  });
}

/** The wire suite's secrets and limits (tests/wire/probes.json "config"): test-only values, never reuse them. */
export const WIRE = Object.freeze({
  cacheSecret: 'wire-cache-secret-for-tests-only-0001',
  mwtSecret: 'wire-mwt-secret-for-tests-only-00002',
  jwtSecret: 'wire-jwt-secret-for-tests-only-00003',
  webhookSecret: 'wire-webhook-secret-for-tests-only-4',
  bodyLimit: 65536,
  maxPublicEntries: 64,
});

/**
 * The wire app's handler options for any runtime: the test secrets, the session stand-in
 * (`X-Wire-User`), revocation (a `sid` starting with `revoked`). `cache`: `'memory'`, a store or null.
 */
export function wireOptions(cache) {
  return {
    cache,
    cacheSecret: cache === null ? undefined : WIRE.cacheSecret,
    mwtSecret: WIRE.mwtSecret,
    jwtSecret: WIRE.jwtSecret,
    bodyLimit: WIRE.bodyLimit,
    maxPublicEntries: WIRE.maxPublicEntries,
    identity: (request) => sessionIdentity(requestHeader(request, 'x-wire-user')),
    revoked: (sid) => sid.startsWith('revoked'),
  };
}

export const functions = defineFunctions();
const f = functions;

f.type('User', { id: 'int', name: 'str' });
f.type('Item', { id: 'int', name: 'str', price: 'float', category: 'str' });
f.type('Order', { id: 'int', user_id: 'int', item_id: 'int', quantity: 'int' });

function hasReports(identity) {
  if (!identity || !DIGITS.test(identity.subject)) return false;
  return Boolean(USERS.get(Number(identity.subject))?.reports);
}
f.predicate('has_reports', hasReports);

function me(ctx) {
  if (ctx.user === null || !DIGITS.test(ctx.user)) throw new Unauthorized('Authentication required');
  return Number(ctx.user);
}

/** `user_id` may be a BigInt (past 2^53): compared as text, as the subject is. */
function maySee(ctx, userId) {
  const i = ctx.identity;
  if (!i || (i.subject !== String(userId) && !i.staff)) throw new Forbidden('Not your account');
}

const byId = (a, b) => a.id - b.id;
const items = () => [...ITEMS.values()].sort(byId).map((i) => ({ ...i }));

// --- reads --------------------------------------------------------------------------------------

f.client({ name: 'current_user', context: 'global', auth: true, returns: 'User' }, (ctx) => {
  const id = me(ctx);
  return { id, name: USERS.get(id)?.name ?? '?' };
});

/** Page 1 when absent, null or 0; Python's slice semantics for the rest (a negative page counts from the end). */
function page(list, p) {
  const n = p === null || p === undefined || p === 0 || p === 0n ? 1 : Number(p);
  const norm = (i) => (i < 0 ? Math.max(list.length + i, 0) : Math.min(i, list.length));
  const start = norm((n - 1) * PAGE_SIZE);
  return list.slice(start, Math.max(norm(n * PAGE_SIZE), start));
}

f.client({ name: 'items_list', context: 'items', cache: 60, params: { page: 'optional<int>', category: 'str?' }, returns: 'list<Item>' },
  (_ctx, { page: p, category }) => page(items().filter((i) => !category || i.category === category), p));

f.client({ name: 'item_count', context: 'items', returns: 'int' }, () => ITEMS.size);

f.client({ name: 'item_detail', context: 'item', params: { id: 'int' }, returns: 'Item' }, (_ctx, { id }) => {
  const item = typeof id === 'number' ? ITEMS.get(id) : undefined;
  if (!item) throw new NotFound('No such item');
  return { ...item };
});

f.client({ name: 'user_profile', context: 'user', rev: 2, params: { user_id: 'int' }, returns: 'User' }, (_ctx, { user_id }) => {
  const u = typeof user_id === 'number' ? USERS.get(user_id) : undefined;
  if (!u) throw new NotFound('No such user');
  return { id: user_id, name: u.name };
});

f.client({ name: 'user_orders', context: 'user', auth: true, params: { user_id: 'int', page: 'optional<int>' }, returns: 'list<Order>' },
  (ctx, { user_id }) => {
    maySee(ctx, user_id);
    return ORDERS.filter((o) => String(o.user_id) === String(user_id)).slice(-10).map((o) => ({ ...o }));
  });

f.client({ name: 'catalog_categories', context: 'catalog', shared: true, cache: 3600, returns: 'list<str>' },
  () => [...new Set([...ITEMS.values()].map((i) => i.category))].sort());

f.client({
  name: 'echo_types', context: 'echo', cache: false, returns: 'any',
  params: { count: 'int', ratio: 'float', flag: 'bool', tags: 'list<str>?', maybe: 'optional<int>', label: 'str?' },
}, (_ctx, { count, ratio, flag, tags = null, maybe = null, label = null }) => ({ count, ratio, flag, tags, maybe, label }));

f.client({ name: 'reports_summary', context: 'reports', auth: 'predicate:has_reports', returns: 'map<int>' },
  () => ({ items: ITEMS.size, users: USERS.size }));

f.client({ name: 'subscription_status', context: 'subscription', auth: true, returns: 'str' }, () => 'active');

f.client({ name: 'search_items', context: 'search', cache: 60, params: { q: 'str' }, returns: 'list<Item>' },
  (_ctx, { q }) => items().filter((i) => i.name.includes(q)));

f.client({ name: 'counter_value', context: 'counter', cache: 60, params: { pause_ms: 'int', tag: 'str?' }, returns: 'int' },
  async (_ctx, { pause_ms }) => {
    // Read first, answer after the pause: a slow query, the window in which a mutation may write and purge.
    const value = counter.value;
    await new Promise((resolve) => setTimeout(resolve, Number(pause_ms)));
    return value;
  });

// --- mutations ----------------------------------------------------------------------------------

f.client({ name: 'rename_item', affects: ['items', 'item'], merge: ['items'], auth: 'staff', params: { id: 'int', name: 'str' }, returns: 'Item' },
  (_ctx, { id, name }) => {
    const item = typeof id === 'number' ? ITEMS.get(id) : undefined;
    if (!item) throw new NotFound('No such item');
    item.name = name;
    return { ...item };
  });

f.client({ name: 'place_order', affects: ['user'], auth: true, params: { user_id: 'int', item_id: 'int', quantity: 'int' }, returns: 'Order' },
  (ctx, { user_id, item_id, quantity }) => {
    maySee(ctx, user_id);
    if (quantity < 1) throw new ValidationFailed({ quantity: ['Must be at least 1'] });
    if (typeof item_id !== 'number' || !ITEMS.has(item_id)) throw new NotFound('No such item');
    const order = { id: ORDERS.length + 1, user_id, item_id, quantity };
    ORDERS.push(order);
    return { ...order };
  });

const userProfile = f.functions.get('user_profile').fn;
f.client({ name: 'update_profile', affects: [userProfile], auth: true, params: { name: 'str' }, returns: 'User' }, (ctx, { name }) => {
  const id = me(ctx);
  USERS.get(id).name = name;
  return { id, name };
});

f.client({ name: 'bump_counter', affects: ['counter'], returns: 'int' }, () => {
  counter.value += 1;
  return counter.value;
});

// GDPR erasure: every origin-cache entry of the user, in every context.
f.client({ name: 'forget_user', auth: 'superuser', params: { user_id: 'int' }, returns: 'int' },
  async (ctx, { user_id }) => (await ctx.app.purgeUser(user_id)).length);

f.client({ name: 'export_report', auth: 'predicate:has_reports', params: { format: 'str?' }, returns: 'str' },
  (_ctx, { format = 'csv' }) => `report.${format}`);

f.client({ name: 'fail', params: { kind: 'str' }, returns: 'any' }, (_ctx, { kind }) => {
  switch (kind) {
    case 'not_found': throw new NotFound('No such thing');
    case 'not_implemented': throw new NotImplemented();
    case 'forbidden': throw new Forbidden('Nope');
    case 'validation': throw new ValidationFailed({ kind: ['Not a good kind'] });
    case 'internal': throw new ProtocolError('INTERNAL_ERROR', 'the message of a deliberate 500 stays in the log');
    case 'boom': throw new Error('database password is hunter2');
    case 'not_json': return Number.NaN;
    default: return kind;
  }
});

// Private (a view): served by its own route (app.js), never by /call/.
f.client({ name: 'stripe_webhook', private: true, view: true, cache: false, route: '/webhooks/stripe/', methods: ['POST'], affects: ['subscription'], returns: 'any' },
  () => ({ received: true }));

/**
 * The webhook's own route (a view, outside the protocol), for any front door: only the payment
 * provider may call it (a valid `Stripe-Signature` over the body, else 401 in the engine's
 * envelope); then run it and purge what its `affects` covers — the kernel resolves the entries,
 * the header and the plan. `{status, headers, body}`, as the engine answers.
 */
export async function stripeWebhook(app, signature, payload) {
  if (!webhookSignatureOk(signature, payload, WIRE.webhookSecret)) return app.errorResponse('UNAUTHORIZED', 'Invalid signature');
  const result = await functions.functions.get('stripe_webhook').fn({ identity: null, user: null, request: null, app }, {});
  const inv = app.registry.resolveInvalidation('stripe_webhook', {});
  await app.purge(inv.invalidate).catch((e) => console.error('mizan: webhook purge failed', e));
  const headers = [['Content-Type', 'application/json'], ['Cache-Control', 'no-store']];
  if (inv.header) headers.push(['X-Mizan-Invalidate', inv.header]);
  return { status: 200, headers, body: JSON.stringify(result) };
}
