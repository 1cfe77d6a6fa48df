// One base class for the resource wrappers (Keyer, Registry, Store, Engine, OriginStore,
// ClientSession): the kernel object lives in one instance; after a trap it is recreated from how
// it was made, on first use (stateless ones come back identical, stateful ones empty).

// The same symbol jco's resource objects use.
export const symbolDispose = Symbol.dispose || Symbol.for('dispose');

export class KernelResource {
  #runtime;
  #create;
  #handle = null;
  #generation = 0;

  /** `create(exports)` makes the kernel object in an instance; it runs now, so errors surface here. */
  constructor(runtime, create) {
    this.#runtime = runtime;
    this.#create = create;
    runtime.call((k, gen) => this.#get(k, gen));
  }

  #get(k, gen) {
    if (this.#generation !== gen) {
      this.#handle = this.#create(k);
      this.#generation = gen;
    }
    return this.#handle;
  }

  /** Run `fn(handle)` on the kernel object of the current instance. */
  _do(fn) {
    return this.#runtime.call((k, gen) => fn(this.#get(k, gen)));
  }

  /** Free the kernel object now instead of at garbage collection (it is recreated if used again). */
  free() {
    const h = this.#handle;
    this.#handle = null;
    this.#generation = 0;
    h?.[symbolDispose]?.();
  }

  [symbolDispose]() {
    this.free();
  }
}
