// Argument and result JSON without losing integers. The kernel hands a function its arguments as
// JSON text and takes its result as JSON text; JavaScript's JSON.parse turns an integer past 2^53
// into the nearest double (9007199254740993 → …992), so the text crosses through lossless-json
// whenever it holds a long digit run: such an integer arrives as a BigInt, and a BigInt in a
// result goes out as its digits (as does an `exactNumber`). Everything else takes the built-in
// JSON (fast).
import { isSafeNumber, LosslessNumber, parse as losslessParse, stringify as losslessStringify } from 'lossless-json';

/**
 * A number written on the wire exactly as `text` (`exactNumber('7.0')`): a JS number has no
 * integer/float distinction, so `7.0` is `7`; where another backend's bytes must be matched, a
 * result holds this instead.
 */
export function exactNumber(text) {
  return new LosslessNumber(String(text));
}

// 16 digits in a row: the shortest run that can be an integer past Number.MAX_SAFE_INTEGER.
const LONG_DIGITS = /\d{16}/;
const INTEGER = /^-?\d+$/;

function number(text) {
  if (INTEGER.test(text) && !isSafeNumber(text)) return BigInt(text);
  return Number(text);
}

/** Parse the kernel's JSON text: integers past 2^53 as BigInt, every other number as a Number. */
export function parseJson(text) {
  return LONG_DIGITS.test(text) ? losslessParse(text, null, number) : JSON.parse(text);
}

class NotJson extends Error {}

function finiteOnly(_key, value) {
  if (typeof value === 'number' && !Number.isFinite(value)) throw new NotJson(`${value} is not a JSON number`);
  return value;
}

/**
 * A function's result as JSON text (`{text}`), or `{problem}` when it is not JSON (NaN,
 * ±Infinity, a cycle, a symbol…): the caller answers that as a failure. `undefined` is sent as
 * null (a function that returns nothing); `toJSON` is honoured (a Date goes out as its ISO text).
 */
export function resultJson(value) {
  if (value === undefined) return { text: 'null' };
  try {
    let text;
    try {
      text = JSON.stringify(value);
    } catch (e) {
      if (!(e instanceof TypeError) || !/BigInt/i.test(e.message)) throw e;
      return { text: losslessStringify(value, finiteOnly) }; // a BigInt: written as its digits
    }
    if (typeof text !== 'string') return { problem: `a ${typeof value} is not JSON` };
    // A LosslessNumber (a number written as its own text, e.g. `7.0`): written by lossless-json.
    if (text.includes('"isLosslessNumber":true')) return { text: losslessStringify(value, finiteOnly) };
    // JSON.stringify writes NaN and ±Infinity as null: look again only when a null is there.
    if (text.includes('null')) JSON.stringify(value, finiteOnly);
    return { text };
  } catch (e) {
    return { problem: e instanceof Error ? e.message : String(e) };
  }
}
