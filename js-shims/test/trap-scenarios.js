// Real traps and the proof that the wrapper recovers from them. Shared by the Node tests and the
// browser test, so both environments run the same code.
import * as api from '../src/index.js';

const SECRET = 'test-pin-secret-that-is-32bytes!';
const KDL =
  'mizan-ir version=1\n\nfunction user_profile context=user output=integer {\n    input user_id type=integer\n}\n\n' +
  'function rename output=integer {\n    input user_id type=integer\n    affects user\n}\n';

/** Resources made before a trap, and what they answered then. */
export function makeWitnesses() {
  const registry = api.Registry.fromKdl(KDL);
  const keyer = api.createKeyer(SECRET);
  const store = api.Store.create();
  store.subscribe('user', { user_id: 5 }, 1);
  const engine = api.Engine.create(registry, { cacheSecret: 'a-cache-secret-of-32-bytes-long!' });
  const origin = new api.OriginStore();
  origin.put('k', 'body', ['idx'], 60, 0);
  return {
    registry,
    keyer,
    store,
    engine,
    origin,
    answers: answers(registry, keyer, engine),
  };
}

function answers(registry, keyer, engine) {
  return JSON.stringify({
    plan: engine.plan({ method: 'GET', path: '/api/mizan/ctx/user/', query: 'user_id=5' }, 1000),
    kdl: registry.toKdl(),
    inv: registry.resolveInvalidation('rename', { user_id: 7 }),
    key: keyer.derive('user', { user_id: '5' }),
    idx: keyer.indexEntry('user', { user_id: 5 }, { user: 5 }),
    top: api.deriveCacheKey(SECRET, 'user', { user_id: '5' }),
    header: api.parseInvalidateHeader('user;user_id=5, notifications'),
  });
}

/** Same answers from the same objects after the trap? */
export function sameAnswers(w) {
  return answers(w.registry, w.keyer, w.engine) === w.answers;
}

/**
 * Out of memory: canonical JSON of an array of `elements` zeros needs ~30 bytes per element in
 * the kernel. Run it under a memory cap (V8 flag --wasm-max-mem-pages) so it traps quickly.
 * Returns the thrown error (or null when nothing was thrown).
 */
export function memoryTrap(elements) {
  const text = `[${'0,'.repeat(elements)}0]`;
  try {
    api.canonicalJson(JSON.parse(text));
    return null;
  } catch (e) {
    return e;
  }
}

/**
 * Stack exhaustion: recurse until the JS stack overflows, then call the kernel from each frame on
 * the way back up. Close to the limit the call fails inside the kernel call itself (inside wasm
 * or the glue), which leaves the instance inconsistent: a trap. Returns counts per outcome.
 */
export function stackTrap(rounds = 40) {
  const outcomes = { ok: 0, trap: 0, other: 0, sample: null };
  const DONE = Symbol('done');
  function deep() {
    try {
      return deep();
    } catch (e) {
      if (e === DONE) throw e;
      try {
        api.canonicalJson({ a: [1, 2, { b: 'x'.repeat(40) }] });
        outcomes.ok++;
      } catch (e2) {
        if (e2 instanceof api.MizanKernelError && e2.code === 'trap') {
          outcomes.trap++;
          outcomes.sample ??= e2;
        } else outcomes.other++;
        throw e2;
      }
      throw DONE;
    }
  }
  for (let i = 0; i < rounds; i++) {
    try {
      deep();
    } catch {
      // DONE, or the last error on the way up
    }
    if (outcomes.trap > 0 && i >= 3) break;
  }
  return outcomes;
}
