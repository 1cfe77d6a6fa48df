// The full component is a superset of the client's: when the full API is loaded in this realm
// (Node servers, SSR, tests), the client runs on it instead of loading the small component too,
// so one instance serves both (and a trap restarts both). Keyed by the contract version: two
// copies of the package with different contracts never share.
export const FULL_KERNEL = Symbol.for('@mizan/kernel-wasm/full-kernel@0.1.0');
