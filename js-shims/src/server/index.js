// @mizan/kernel-wasm/server: server functions declared in JS/TS and the Mizan protocol served
// through the kernel's engine, on the Fetch API (Node, Deno, Bun, Workers) and node:http.
export { defineFunctions, Functions } from './functions.js';
export { MizanApp } from './app.js';
export { mizanHandler } from './fetch.js';
export { nodeListener, createNodeServer, requestHeader } from './node.js';
export { MemoryOriginStore, RedisOriginStore } from './stores.js';
export {
  PROTOCOL_CODES, ProtocolError, NotFound, BadRequest, Unauthorized, Forbidden, NotImplemented, ValidationFailed,
} from './errors.js';
export { exactNumber } from './values.js';
