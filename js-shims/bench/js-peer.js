// Hand-written JavaScript equivalents of a few kernel operations, used only by the benchmark
// (and checked against the spec's vectors in test/vectors.test.js so the comparison is fair).
// Not part of the package: the package's whole point is that hosts do not re-implement these.
import { createHmac } from 'node:crypto';

/** RFC 8785 canonical JSON for plain JSON values (ES number and string serialization). */
export function canonicalJs(v) {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJs).join(',')}]`;
  const keys = Object.keys(v).sort(); // default sort: UTF-16 code units, as RFC 8785 wants
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJs(v[k])}`).join(',')}}`;
}

/** KERNEL.md §1 stringify: String(v) for scalars, canonical JSON for arrays and objects. */
export function stringifyJs(v) {
  if (typeof v === 'string') return v;
  if (v === null || typeof v !== 'object') return String(v);
  return canonicalJs(v);
}

/** The HMAC message `{"c":..,"p":{sorted: String(v)},"r":..,"u"?:..}`. */
export function keyMessageJs(context, params, user, rev = 0) {
  const p = Object.keys(params)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${JSON.stringify(stringifyJs(params[k]))}`)
    .join(',');
  const u = user === undefined || user === null ? '' : `,"u":${JSON.stringify(stringifyJs(user))}`;
  return `{"c":${JSON.stringify(context)},"p":{${p}},"r":${rev}${u}}`;
}

/** `ctx:{context}:{hex}` with node:crypto HMAC-SHA256. */
export function deriveCacheKeyJs(secret, context, params, { user, rev = 0 } = {}) {
  const hex = createHmac('sha256', secret).update(keyMessageJs(context, params, user, rev)).digest('hex');
  return `ctx:${context}:${hex}`;
}

/** The X-Mizan-Invalidate header value. */
export function formatHeaderJs(entries) {
  return entries
    .map((e) => {
      if (typeof e === 'string') return encodeURIComponent(e);
      let part = encodeURIComponent(e.context);
      const params = e.params ?? {};
      for (const k of Object.keys(params).sort()) {
        part += `;${encodeURIComponent(k)}=${encodeURIComponent(stringifyJs(params[k]))}`;
      }
      if (e.function) part += `;@fn=${encodeURIComponent(e.function)}`;
      return part;
    })
    .join(', ');
}

/** Parse it back (values as strings); throws on the obvious errors only. */
export function parseHeaderJs(text) {
  if (text.trim() === '') return [];
  return text.split(',').map((raw) => {
    const [name, ...segs] = raw.split(';').map((s) => s.trim());
    if (!name) throw new Error('empty entry');
    const context = decodeURIComponent(name);
    if (segs.length === 0) return context;
    const entry = { context, params: {} };
    for (const seg of segs) {
      const eq = seg.indexOf('=');
      if (eq <= 0) throw new Error('a param must be key=value');
      const k = seg.slice(0, eq);
      const v = decodeURIComponent(seg.slice(eq + 1));
      if (k === '@fn') entry.function = v;
      else entry.params[decodeURIComponent(k)] = v;
    }
    return entry;
  });
}
