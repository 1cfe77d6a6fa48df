// IR type spellings for the JS registry (docs/IR.md "Types"). JavaScript has no type hints at
// run time, so a function declares its params and result as IR type strings; these short
// spellings are accepted beside the IR's own and written out in the IR's. Whether a type is
// valid (a known name, a well-formed generic) is the kernel's check, at `toKdl`/`mizanHandler`.

const ALIASES = { int: 'integer', float: 'number', str: 'string', bool: 'boolean' };

/** `'int'` → `'integer'`, `'list<int>'` → `'list<integer>'`; other names as written. */
export function irType(spelled) {
  if (typeof spelled !== 'string' || spelled.trim() === '') throw new TypeError(`a type is a non-empty string, got ${String(spelled)}`);
  return spelled.replace(/[A-Za-z_][A-Za-z0-9_]*/g, (word) => ALIASES[word] ?? word).replace(/\s+/g, '');
}

/**
 * A param or field: `'int'` (required), `'int?'` (not required), `'optional<T>'` (may be
 * absent or null: not required), or `{type, required}`.
 */
export function member(name, spec) {
  if (spec !== null && typeof spec === 'object') {
    const type = irType(spec.type);
    const required = spec.required ?? !type.startsWith('optional<');
    return { type, required: Boolean(required) };
  }
  if (typeof spec !== 'string') throw new TypeError(`${name}: a type string or {type, required}, got ${String(spec)}`);
  const trimmed = spec.trim();
  if (trimmed.endsWith('?')) return { type: irType(trimmed.slice(0, -1)), required: false };
  const type = irType(trimmed);
  return { type, required: !type.startsWith('optional<') };
}

/** `{name: spec}` → `{name: {type, required}}`. */
export function members(what, specs) {
  if (specs === undefined || specs === null) return {};
  if (typeof specs !== 'object' || Array.isArray(specs)) throw new TypeError(`${what} must be an object of {name: type}`);
  const out = {};
  for (const [name, spec] of Object.entries(specs)) out[name] = member(`${what}.${name}`, spec);
  return out;
}
