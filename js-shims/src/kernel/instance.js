// Instances and trap recovery. The kernel returns typed errors and is built never to trap, but a
// trap (out of memory, stack exhaustion) can still happen and leaves the instance inconsistent.
// Any exception other than a kernel error that escapes a call retires the instance; the next one
// is created at once (the compiled modules are reused, ~1 ms). Resource wrappers remember how
// they were made and recreate their kernel objects in the new instance on first use (resource.js).
import { MizanKernelError } from './errors.js';

/**
 * The runtime of one component: `instantiate` is its jco glue's (`--instantiation sync`),
 * `coreModules` its compiled core modules. `call(fn)` runs `fn(exports, generation)` on the
 * current instance; `generation()` counts the instances made (1 until a trap).
 */
export function createRuntime(instantiate, coreModules) {
  let current = null; // { k: jco exports, generation, state }
  let generation = 0;

  function getCoreModule(name) {
    const m = coreModules.get(name);
    if (!m) throw new Error(`@mizan/kernel-wasm: jco asked for an unknown core module ${name}`);
    return m;
  }

  // jco routes resource destructors (FinalizationRegistry callbacks and Symbol.dispose) through
  // the small shim module whose exports include `$imports`. Guard those: once an instance is
  // retired, destructors of its leftover objects must not run in it, and a failing destructor
  // must never throw out of a finalization callback (that would crash Node).
  function instantiateCore(state) {
    return (module, imports) => {
      const instance = new WebAssembly.Instance(module, imports);
      if (!WebAssembly.Module.exports(module).some((e) => e.name === '$imports')) return instance;
      const exports = {};
      for (const [name, value] of Object.entries(instance.exports)) {
        exports[name] = typeof value !== 'function' ? value : (...args) => {
          if (state.retired) return undefined;
          try {
            return value(...args);
          } catch {
            retire(state);
            return undefined;
          }
        };
      }
      return { exports };
    };
  }

  function spawn() {
    const state = { retired: false };
    const k = instantiate(getCoreModule, {}, instantiateCore(state));
    current = { k, generation: ++generation, state };
    return current;
  }

  function retire(state) {
    state.retired = true;
    if (current && current.state === state) current = null;
  }

  function failure(e, cur) {
    if (e instanceof MizanKernelError) return e;
    // jco's ComponentError carries the WIT `error` record as `payload` (checked by shape: a
    // minifier may rename the class).
    if (e && typeof e === 'object' && e.payload && typeof e.payload.code === 'string' && typeof e.payload.message === 'string') {
      const { code, message, details } = e.payload;
      return new MizanKernelError(code, message, details === undefined ? null : JSON.parse(details));
    }
    // Not a kernel error: a trap (WebAssembly.RuntimeError), a stack overflow inside wasm
    // (RangeError) or a glue failure mid-call. The instance can no longer be trusted.
    retire(cur.state);
    try {
      spawn();
    } catch {
      // Leave `current` empty: the next call tries again.
    }
    const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    return new MizanKernelError('trap', `the kernel trapped (${what}); a fresh instance replaces it`, null, { cause: e });
  }

  spawn();

  return {
    call(fn) {
      const cur = current ?? spawn();
      try {
        return fn(cur.k, cur.generation);
      } catch (e) {
        throw failure(e, cur);
      }
    },
    generation: () => generation,
    /** The current instance's exports (to feature-test an interface). */
    exports: () => (current ?? spawn()).k,
  };
}
