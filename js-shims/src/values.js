// Canonical values (KERNEL.md §1), the X-Mizan-Invalidate header (§5) and merges, client side (§6).
// This file only translates: JS values in as JSON text, JSON text out through JSON.parse, kernel
// errors to MizanKernelError. Every rule lives in the kernel (src/kernel/full.js).
import { runtime } from './kernel/full.js';
import { json, str } from './kernel/values.js';

const call = runtime.call;

/** JavaScript `String(v)` for scalars, RFC 8785 canonical JSON for arrays and objects. */
export function stringify(value) {
  const v = json('value', value);
  return call((k) => k.canon.stringify(v));
}

/** RFC 8785 canonical JSON text of any JSON value. */
export function canonicalJson(value) {
  const v = json('value', value);
  return call((k) => k.canon.canonicalJson(v));
}

/** Entries (`"ctx"` or `{context, function?, params?}`) to the header value. */
export function formatInvalidateHeader(entries) {
  const t = json('entries', entries);
  return call((k) => k.header.formatInvalidateHeader(t));
}

/** The header value to entries (param values come back as strings). */
export function parseInvalidateHeader(text) {
  str('text', text);
  return JSON.parse(call((k) => k.header.parseInvalidateHeader(text)));
}

/** The new bundle after applying a merge entry, or `null` when the merge changes nothing. */
export function applyMerge(bundle, entry) {
  const b = json('bundle', bundle);
  const e = json('entry', entry);
  const out = call((k) => k.merge.applyMerge(b, e));
  return out === undefined ? null : JSON.parse(out);
}
