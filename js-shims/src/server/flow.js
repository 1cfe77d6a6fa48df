// The per-request flow: an interpreter of the kernel's exchange (wit/session.wit
// `server-exchange`; docs/SERVER.md "The exchange"), as the Rust host's `Mizan::handle` is. The
// kernel decides everything (whether a token replaces the session, the revocation check,
// validation, the plan, the purge fence, the order purge → put → respond, the error envelopes,
// the log lines); this file performs the effects the exchange asks for — the session lookup, the
// revocation callback, predicates, running the functions, the origin store's lookup, put and
// purge, keeping a failed purge pending — and hands back its response.
import { thrownOutcome, thrownText } from './errors.js';
import { parseJson, resultJson } from './values.js';

function context(app, identity, hostRequest) {
  return { identity, user: identity?.subject ?? null, request: hostRequest, app };
}

/**
 * The session identity, asked for by the exchange only when the request needs it (a `/call/` or
 * `/ctx/…` request without a token; the server has the `identity` hook when the app has a
 * lookup): `identity`, or `identityFailed` when the app's lookup threw (the kernel's 500 and log
 * line, the same on every host).
 */
async function identify(app, hostRequest) {
  try {
    return { identity: (await app.identityOf(hostRequest)) ?? null };
  } catch (e) {
    return { identityFailed: thrownText(e) };
  }
}

async function verdicts(app, check, hostRequest) {
  const out = [];
  for (const name of check.predicates) {
    const predicate = app.predicates.get(name);
    let verdict = 'missing';
    if (predicate !== undefined) {
      try {
        verdict = (await predicate(check.identity, hostRequest)) ? 'allow' : 'deny';
      } catch (e) {
        verdict = { raised: thrownText(e) };
      }
    }
    out.push({ name, verdict });
  }
  return out;
}

/** Run one function: its outcome (`{okJson}`, `{error}`, `{exception}`, or `'missing'`). */
async function run(fn, argsJson, ctx) {
  if (fn === undefined) return 'missing';
  let value;
  try {
    value = await fn(ctx, parseJson(argsJson));
  } catch (e) {
    return thrownOutcome(e);
  }
  const json = resultJson(value);
  return json.problem === undefined ? { okJson: json.text } : { exception: `returned a value that is not JSON: ${json.problem}` };
}

async function runAll(app, effect, hostRequest) {
  const ctx = context(app, effect.identity, hostRequest);
  const outcomes = [];
  for (const c of effect.calls) outcomes.push(await run(app.functions.get(c.function), c.argsJson, ctx));
  // The pending purge as it is now: one may have failed while the functions ran (then no put).
  return { ran: { outcomes, pending: app.pending } };
}

async function storeEvent(action, ok, failed) {
  try {
    await action();
    return ok;
  } catch (e) {
    return { [failed]: thrownText(e) };
  }
}

async function lookup(store, key) {
  if (store === null) return { found: { body: null, ticket: null } };
  try {
    const found = await store.lookup(key);
    return { found: { body: found.body ?? null, ticket: found.ticket ?? null } };
  } catch (e) {
    return { lookupFailed: thrownText(e) };
  }
}

/** Perform one effect: the event that answers it (null for those that ask nothing). */
async function perform(app, effect, hostRequest) {
  const store = app.store;
  if (effect === 'resolveIdentity') return identify(app, hostRequest);
  if (effect.run) return runAll(app, effect.run, hostRequest);
  if (effect.lookup !== undefined) return lookup(store, effect.lookup);
  if (effect.put) return store === null ? 'stored' : storeEvent(() => store.put(effect.put.entry, effect.put.ticket), 'stored', 'putFailed');
  if (effect.purge) return store === null ? 'purged' : storeEvent(() => store.purge(effect.purge), 'purged', 'purgeFailed');
  if (effect.checkRevoked !== undefined) return { revoked: Boolean(await app.revoked(effect.checkRevoked)) };
  if (effect.checkPredicates) return { predicates: await verdicts(app, effect.checkPredicates, hostRequest) };
  if (effect.retryPurge) return { retried: await app.settlePending() };
  if (effect.keepPending) app.keepPending(effect.keepPending);
  else if (effect.log) (effect.log.level === 'error' ? app.logger.error : app.logger.warn).call(app.logger, `mizan: ${effect.log.text}`);
  else throw new Error(`the exchange asked for an unknown effect ${JSON.stringify(effect)}`);
  return null;
}

/**
 * A purge or put that came with the response is answered only when it failed: its log line (and
 * a failed purge kept pending) before the response is sent.
 */
async function afterResponse(app, exchange, events, response, hostRequest) {
  const failed = events.filter((e) => e.purgeFailed !== undefined || e.putFailed !== undefined);
  if (failed.length > 0) for (const effect of exchange.update(failed)) await perform(app, effect, hostRequest);
  return response;
}

/**
 * Serve one request: the kernel's response (`{status, headers, body}`) to send exactly.
 * `request` is the kernel's (method, path, query, token headers, body); `hostRequest` what the
 * identity callback, functions and predicates see (`ctx.request`).
 */
export async function handle(app, request, hostRequest) {
  let exchange = null;
  try {
    const begun = app.server.begin({ request, pending: app.pending, now: Date.now(), identity: null });
    exchange = begun.exchange;
    let effects = begun.effects;
    for (;;) {
      const events = [];
      for (const effect of effects) {
        if (effect.respond) return await afterResponse(app, exchange, events, effect.respond, hostRequest);
        const event = await perform(app, effect, hostRequest);
        if (event !== null) events.push(event);
      }
      if (events.length === 0) throw new Error('the exchange asked for nothing and did not respond');
      effects = exchange.update(events);
    }
  } catch (e) {
    // A kernel failure (a trap, a misplaced event) or a hook that threw: the engine's 500.
    app.logger.error('mizan: request failed', e);
    return app.errorResponse('INTERNAL_ERROR', 'Internal server error');
  } finally {
    exchange?.free();
  }
}
