// The registry (KERNEL.md §3, §4, §6, §9): IR in and out, invalidation, merges, manifest, policy.
// This file only translates: JS values in as JSON text, JSON text out through JSON.parse, kernel
// errors to MizanKernelError. Every rule lives in the kernel (src/kernel/full.js).
import { runtime } from './kernel/full.js';
import { KernelResource } from './kernel/resource.js';
import { json, str } from './kernel/values.js';
import { subject } from './keys.js';

export class Registry extends KernelResource {
  /** Use Registry.fromKdl or Registry.fromJson. */
  constructor(source) {
    if (!source || (typeof source.kdl !== 'string' && typeof source.json !== 'string')) {
      throw new TypeError('use Registry.fromKdl(text) or Registry.fromJson(value)');
    }
    super(runtime, (k) => (source.kdl !== undefined ? k.registry.Registry.fromKdl(source.kdl) : k.registry.Registry.fromJson(source.json)));
  }

  /** Parse KDL IR; errors carry `{line, column}` or `{problems}` in `details`. */
  static fromKdl(text) {
    return new Registry({ kdl: str('text', text) });
  }

  /** Read the JSON form (an object, or its JSON text). */
  static fromJson(value) {
    return new Registry({ json: typeof value === 'string' ? value : json('registry', value) });
  }


  /** The canonical KDL form. */
  toKdl() {
    return this._do((h) => h.toKdl());
  }

  /** The full JSON form, parsed. */
  toJson() {
    return JSON.parse(this._do((h) => h.toJson()));
  }

  /** `{invalidate, header}`: the body list and the header value (`null` over the header limits). */
  resolveInvalidation(fn, args = {}, { subject: sub } = {}) {
    str('fn', fn);
    const a = json('args', args);
    const s = sub === undefined || sub === null ? undefined : subject('subject', sub);
    return this._do((h) => {
      const r = h.resolveInvalidation(fn, a, s);
      return { invalidate: JSON.parse(r.entriesJson), header: r.header ?? null };
    });
  }

  /** `{merge, diagnostics}` for a mutation's result. */
  resolveMerges(fn, args, result) {
    str('fn', fn);
    const a = json('args', args ?? {});
    const res = json('result', result);
    return this._do((h) => {
      const r = h.resolveMerges(fn, a, res);
      return { merge: JSON.parse(r.mergesJson), diagnostics: JSON.parse(r.diagnosticsJson) };
    });
  }

  /** The edge manifest; `viewUrls` maps context names to extra page routes. */
  manifest(baseUrl, viewUrls) {
    str('baseUrl', baseUrl);
    const v = viewUrls === undefined || viewUrls === null ? undefined : json('viewUrls', viewUrls);
    return JSON.parse(this._do((h) => h.manifest(baseUrl, v)));
  }

  /** `{rev, cacheable, ttlSeconds}`; `ttlSeconds` is null when no member names a TTL. */
  contextPolicy(context) {
    str('context', context);
    return this._do((h) => {
      const p = h.contextPolicy(context);
      return { rev: p.rev, cacheable: p.cacheable, ttlSeconds: p.ttlSeconds ?? null };
    });
  }

}
