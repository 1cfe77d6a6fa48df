// The per-request flow (docs/SERVER.md "What a host does"), the same as the Python and Rust
// hosts': plan → (predicates → plan again) → respond | call (run the function, finishCall, run
// the purge) | fetch (read the cache, else run every member, finishFetch, store the put).
// Status, headers and body are the engine's, sent as they are. The host's own decisions: running
// the functions and predicates, the identity and revocation callbacks, the I/O.
// (Kept in this one module: the flow is moving into the kernel, and this is what will call it.)
import { thrownOutcome } from './errors.js';
import { parseJson, resultJson } from './values.js';

/** The session identity of a host request; an exception in the app's lookup is the engine's 500. */
export async function identify(app, hostRequest) {
  if (app.identityOf === null) return { identity: null };
  try {
    return { identity: (await app.identityOf(hostRequest)) ?? null };
  } catch (e) {
    app.logger.error('mizan: the identity callback failed', e);
    return { response: app.errorResponse('INTERNAL_ERROR', 'Internal server error') };
  }
}

function context(app, identity, hostRequest) {
  return { identity, user: identity?.subject ?? null, request: hostRequest, app };
}

async function answers(app, check, hostRequest) {
  const out = [];
  for (const name of check.predicates) {
    const predicate = app.predicates.get(name);
    let allowed = false;
    if (predicate === undefined) {
      app.logger.warn(`mizan: no predicate named ${JSON.stringify(name)}: denied`);
    } else {
      try {
        allowed = Boolean(await predicate(check.identity, hostRequest));
      } catch (e) {
        app.logger.error(`mizan: predicate ${JSON.stringify(name)} threw: denied`, e);
      }
    }
    out.push({ name, allowed });
  }
  return out;
}

/** Run one function: its outcome (`{okJson}`, `{error}`, `{exception}`). */
async function run(app, name, argsJson, ctx) {
  const fn = app.functions.get(name);
  if (fn === undefined) {
    app.logger.error(`mizan: no implementation registered for \`${name}\``);
    return { exception: `no implementation registered for \`${name}\`` };
  }
  let value;
  try {
    value = await fn(ctx, parseJson(argsJson));
  } catch (e) {
    const outcome = thrownOutcome(e);
    if (outcome.exception !== undefined) app.logger.error(`mizan: \`${name}\` threw`, e);
    return outcome;
  }
  const json = resultJson(value);
  if (json.problem !== undefined) {
    app.logger.error(`mizan: \`${name}\` returned a value that is not JSON: ${json.problem}`);
    return { exception: `\`${name}\` returned a value that is not JSON: ${json.problem}` };
  }
  return { okJson: json.text };
}

function logDiagnostics(app, diagnostics) {
  for (const d of diagnostics) app.logger.warn(`mizan: ${d}`);
}

async function call(app, plan, hostRequest) {
  const outcome = await run(app, plan.function, plan.argsJson, context(app, plan.identity, hostRequest));
  const fin = app.engine.finishCall(plan, outcome);
  if (fin.purge !== null && app.store !== null) {
    // Before the response, so a refetch cannot read a purged entry.
    await app.purgeOrKeep(fin.purge).catch(() => {});
  }
  logDiagnostics(app, fin.diagnostics);
  return fin.response;
}

async function fetch(app, plan, hostRequest) {
  const store = app.store;
  let cache = store === null ? null : plan.cache;
  if (cache !== null && app.pending !== null && app.fenced(await app.settlePending(), cache)) {
    cache = null; // a failed purge covers it: no read, no put
  }
  let ticket = null;
  if (cache !== null) {
    try {
      const found = await store.lookup(cache.key);
      if (found.body !== null) return app.engine.finishFetch(plan.context, cache, { hit: found.body }).response;
      ticket = found.ticket;
    } catch (e) {
      app.logger.error('mizan: cache read failed (served as a miss)', e);
    }
  }
  const ctx = context(app, plan.identity, hostRequest);
  const results = [];
  for (const m of plan.members) results.push({ function: m.function, outcome: await run(app, m.function, m.argsJson, ctx) });
  const fin = app.engine.finishFetch(plan.context, cache, { results });
  if (fin.cachePut !== null && cache !== null && !app.fenced(app.pending, cache)) {
    try {
      await store.put(fin.cachePut, ticket); // a pending purge (one that failed while members ran) fences it
    } catch (e) {
      app.logger.error('mizan: cache write failed', e);
    }
  }
  logDiagnostics(app, fin.diagnostics);
  return fin.response;
}

/**
 * Serve one request: the engine's response (`{status, headers, body}`) to send exactly.
 * `request` is the engine's (method, path, query, token headers, body); `hostRequest` what
 * functions and predicates see as `ctx.request`; `identity` the session's (a valid token in the
 * request replaces it, in the engine).
 */
export async function handle(app, request, hostRequest, identity) {
  const engine = app.engine;
  const now = Date.now();
  try {
    let plan = engine.plan(request, now, { identity });
    if (plan.respond) return plan.respond;
    const sid = (plan.checkPredicates ?? plan.call ?? plan.fetch).identity?.sessionId;
    if (app.revoked !== null && sid && (await app.revoked(sid))) return app.errorResponse('UNAUTHORIZED', 'Session revoked');
    if (plan.checkPredicates) {
      plan = engine.plan(request, now, { identity, answers: await answers(app, plan.checkPredicates, hostRequest) });
      if (plan.respond) return plan.respond;
      if (plan.checkPredicates) throw new Error('the engine asked for predicates again after answers');
    }
    return plan.call ? await call(app, plan.call, hostRequest) : await fetch(app, plan.fetch, hostRequest);
  } catch (e) {
    // A kernel failure (a trap) or a store that threw where it must not: the engine's 500.
    app.logger.error('mizan: request failed', e);
    return app.errorResponse('INTERNAL_ERROR', 'Internal server error');
  }
}
