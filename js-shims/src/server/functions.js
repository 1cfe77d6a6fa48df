// defineFunctions(): server functions declared in JS/TS and the registry they make (KERNEL.md
// §3). The registry's JSON form is listed here from the declarations; the kernel parses it,
// graph-checks it and writes the canonical KDL (`toKdl`), so a JS registration is refused for
// exactly the reasons a KDL one is, and exports the same bytes as Python's `@client` and Rust's
// `#[client]` for the same functions.
import { Registry } from '../registry.js';
import { irType, members } from './types.js';

const AUTH_WORDS = new Set(['required', 'staff', 'superuser']);
const OPTIONS = new Set([
  'name', 'context', 'params', 'returns', 'affects', 'merge', 'auth', 'private', 'view', 'websocket',
  'route', 'methods', 'rev', 'cache', 'shared',
]);

const list = (v) => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);

/** A set of server functions, contexts, types, enums and predicates: what a host serves and its registry. */
export class Functions {
  constructor() {
    /** name → {name, fn, entry} */
    this.functions = new Map();
    /** name → {shared} */
    this.contexts = new Map();
    this.types = new Map();
    this.enums = new Map();
    /** name → (identity, request) => boolean | Promise<boolean> */
    this.predicates = new Map();
    this._names = new WeakMap();
    this._registry = null;
  }

  /** Declare a context's flags: `{shared: true}` (same data for every caller: entries not keyed by user). */
  context(name, { shared = false } = {}) {
    this.contexts.set(String(name), { shared: Boolean(shared) });
    this._registry = null;
    return this;
  }

  /** A named object type: `{field: 'string', postcode: 'optional<string>', tags: 'list<string>'}`. */
  type(name, fields) {
    if (this.types.has(name)) throw new Error(`type ${name} is declared twice`);
    this.types.set(name, { fields: members(`type ${name}`, fields) });
    this._registry = null;
    return name;
  }

  /** A string enum (IR version 2), its values in this order. */
  enum(name, values) {
    if (this.enums.has(name)) throw new Error(`enum ${name} is declared twice`);
    if (!Array.isArray(values) || !values.every((v) => typeof v === 'string')) throw new TypeError(`enum ${name}: values must be strings`);
    this.enums.set(name, [...values]);
    this._registry = null;
    return name;
  }

  /** A named auth predicate `(identity, request) => boolean` (may be async), for `auth: 'predicate:NAME'`. */
  predicate(name, fn) {
    if (typeof fn !== 'function') throw new TypeError('predicate(name, fn): fn must be a function');
    this.predicates.set(String(name), fn);
    return fn;
  }

  /**
   * Register a server function: `client(options, fn)` or `client(name, options, fn)`.
   * `fn(ctx, args)`: `ctx` is `{identity, user, request, app}`, `args` the declared params
   * (checked and coerced by the kernel; integers past 2^53 arrive as BigInt).
   * Options: `name` (else the function's own name), `context`, `params` ({name: type}),
   * `returns` (an IR type; default `any`), `affects` (contexts, functions or registered
   * functions), `merge`, `auth` (`true`, `'staff'`, `'superuser'`, `'predicate:NAME'`, or a
   * named function `(identity, request) => boolean`), `private`, `view`, `websocket`, `route`,
   * `methods`, `rev`, `cache` (`false` or seconds), `shared` (the context is shared).
   */
  client(...args) {
    const fn = args.pop();
    const options = (args.length === 2 ? { ...args[1], name: args[0] } : typeof args[0] === 'string' ? { name: args[0] } : args[0]) ?? {};
    if (typeof fn !== 'function') throw new TypeError('client(options, fn): fn must be a function');
    for (const key of Object.keys(options)) if (!OPTIONS.has(key)) throw new TypeError(`client(): unknown option ${key}`);
    const name = options.name ?? fn.name;
    if (!name) throw new TypeError('client(): an anonymous function needs options.name');
    if (this.functions.has(name)) throw new Error(`function ${name} is registered twice`);
    const entry = {
      context: options.context ?? null,
      affects: list(options.affects).map((a) => this.#nameOf(a)),
      merge: list(options.merge).map(String),
      auth: this.#auth(options.auth),
      private: Boolean(options.private),
      view: Boolean(options.view),
      websocket: Boolean(options.websocket),
      route: options.route ?? null,
      methods: list(options.methods).map((m) => String(m).toUpperCase()),
      rev: options.rev ?? 0,
      cache: options.cache === undefined || options.cache === null || options.cache === true ? null : options.cache === false ? false : options.cache,
      inputs: members(`${name} params`, options.params),
      output: irType(options.returns ?? 'any'),
    };
    if (options.shared !== undefined) {
      if (!entry.context) throw new TypeError(`${name}: shared needs a context`);
      this.context(entry.context, { shared: options.shared });
    }
    this.functions.set(name, { name, fn, entry });
    this._names.set(fn, name);
    this._registry = null;
    return fn;
  }

  #nameOf(target) {
    if (typeof target === 'function') {
      const name = this._names.get(target);
      if (!name) throw new TypeError(`affects: ${target.name || 'a function'} is not registered here`);
      return name;
    }
    return String(target);
  }

  #auth(auth) {
    if (auth === undefined || auth === null || auth === false) return null;
    if (auth === true) return 'required';
    if (typeof auth === 'function') {
      if (!auth.name) throw new TypeError('auth: a predicate function needs a name (it is the IR\'s predicate:NAME)');
      const known = this.predicates.get(auth.name);
      if (known && known !== auth) throw new Error(`two different predicates are named ${auth.name}`);
      this.predicates.set(auth.name, auth);
      return `predicate:${auth.name}`;
    }
    if (typeof auth === 'string' && (AUTH_WORDS.has(auth) || auth.startsWith('predicate:'))) return auth;
    throw new TypeError(`auth must be true, 'required', 'staff', 'superuser', 'predicate:NAME' or a named function, not ${String(auth)}`);
  }

  /** The registry's JSON form (what `Registry.fromJson` reads). */
  toJson() {
    const functions = {};
    for (const { name, entry } of this.functions.values()) functions[name] = entry;
    const out = {
      version: this.enums.size > 0 ? 2 : 1, // enums are IR version 2; version 1 refuses them
      contexts: Object.fromEntries(this.contexts),
      functions,
      types: Object.fromEntries(this.types),
    };
    if (this.enums.size > 0) out.enums = Object.fromEntries(this.enums);
    return out;
  }

  /** The kernel's Registry of these functions (graph-checked). */
  registry() {
    this._registry ??= Registry.fromJson(this.toJson());
    return this._registry;
  }

  /** The canonical KDL IR, as the kernel writes it. */
  toKdl() {
    return this.registry().toKdl();
  }
}

/** A new, empty set of server functions. */
export function defineFunctions() {
  return new Functions();
}
