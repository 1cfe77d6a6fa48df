// The browser component (target/mizan-kernel-client.wasm, world `client` in wit/session.wit): the
// client session alone (the header and merge functions are the full API's). What `@mizan/kernel-wasm/client`
// and the framework adapters run on, unless the full API is loaded in the same realm: then they
// share its instance (shared.js) and this component is never compiled.
import { instantiate } from '../../dist/client.js';
import { smallModules } from '../../dist/client.small.js';
import { compileModules } from './load.js';
import { createRuntime } from './instance.js';
import { sessionApi } from './session.js';
import { FULL_KERNEL } from './shared.js';

/** A kernel of this component of its own, whatever else is loaded (tests run both components). */
export async function loadClientComponent() {
  const url = new URL('../../dist/client.core.wasm', import.meta.url);
  const runtime = createRuntime(instantiate, await compileModules(url, 'client.core.wasm', smallModules));
  return { runtime, ...sessionApi(runtime) };
}

const own = globalThis[FULL_KERNEL] ? null : await loadClientComponent();

/** `{runtime, ClientSession, readResponse, requestOf}` of the kernel the client runs on. */
export function clientKernel() {
  return globalThis[FULL_KERNEL] ?? own;
}
