// @mizan/kernel-wasm: the Mizan kernel (one WebAssembly component, target/mizan-kernel.wasm) for
// Node and browsers. This file only re-exports: loading and instances are in src/kernel/, each
// part of the API in its own module, the client in src/client/ (also
// `@mizan/kernel-wasm/client`, which the framework adapters use).
import { runtime } from './kernel/full.js';

export { MizanKernelError } from './kernel/errors.js';
export { stringify, canonicalJson, formatInvalidateHeader, parseInvalidateHeader, applyMerge } from './values.js';
export { checkSecret, Keyer, createKeyer, deriveCacheKey, deriveCacheKeys, deriveCacheKeyRotation } from './keys.js';
export { Registry } from './registry.js';
export { Store } from './store.js';
export { Engine, OriginStore, requestHeaders, redisPutScript, redisPurgeScript, redisPlanJson, purgeCovers } from './server.js';
export { ExchangeServer, Exchange } from './exchange.js';
export { ClientSession, readResponse } from './kernel/full.js';
export { createClient, httpTransport, tauriTransport, channelTransport, serveChannel, MizanRequestError } from './client/index.js';

/** How many instances this module has created (1 until a trap happened). For tests. */
export function instanceGeneration() {
  return runtime.generation();
}
