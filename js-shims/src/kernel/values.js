// Argument translation shared by every wrapper: JS values in as JSON text (the only way values are
// serialized here), type and range checks that leave the instance alone.
import { MizanKernelError } from './errors.js';

function nonFinite(_key, value) {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new MizanKernelError('invalid-json', `${value} is not a JSON number`);
  }
  return value;
}

/** JSON text of a value; refuses what JSON.stringify would silently change (undefined, NaN…). */
export function json(name, value) {
  const text = JSON.stringify(value);
  if (typeof text !== 'string') {
    throw new MizanKernelError('invalid-json', `${name} is not representable as JSON (${typeof value})`);
  }
  // JSON.stringify writes NaN and ±Infinity as null; the spec wants them rejected. Only re-check
  // when the text contains a null at all.
  if (text.includes('null')) JSON.stringify(value, nonFinite);
  return text;
}

/** `option<string>` JSON of a value that may be absent. */
export const optJson = (name, value) => (value === undefined || value === null ? undefined : json(name, value));

export function str(name, value) {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string, got ${typeof value}`);
  return value;
}

export function strList(name, value) {
  if (!Array.isArray(value)) throw new TypeError(`${name} must be an array of strings`);
  for (const v of value) str(`${name}[]`, v);
  return value;
}

export function u32(name, value) {
  if (value === undefined) return 0;
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new MizanKernelError('invalid-argument', `${name} must be an integer from 0 to 4294967295, got ${String(value)}`);
  }
  return value;
}

export function u64(name, value) {
  if (typeof value === 'bigint') {
    if (value < 0n || value > 0xffffffffffffffffn) throw new MizanKernelError('invalid-argument', `${name} is out of the u64 range`);
    return value;
  }
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new MizanKernelError('invalid-argument', `${name} must be a non-negative safe integer, got ${String(value)}`);
  }
  return BigInt(value);
}

export const parseOpt = (text) => (text === undefined ? null : JSON.parse(text));
