// Loading a component's core modules. The core module sits next to its glue and is found
// relative to this file, so Node, plain browsers and bundlers that understand
// `new URL('…', import.meta.url)` (Vite 7 and 8 are tested; see docs/hosts/javascript.md) need
// no configuration.

async function compileCore(url, file) {
  if (url.protocol === 'file:') {
    // Node, Deno, Bun. A variable specifier keeps browser bundlers from resolving it.
    const fsName = 'node:fs/promises';
    const { readFile } = await import(/* @vite-ignore */ /* webpackIgnore: true */ fsName);
    return WebAssembly.compile(await readFile(url));
  }
  // Vite < 8 pre-bundles dependencies into node_modules/.vite/deps/ in dev without copying assets
  // referenced by `new URL(…, import.meta.url)` (vitejs/vite#8427); the dev server still serves
  // the file from the package's own folder.
  const res = await fetch(viteDevFallback(url, file) ?? url);
  if (!res.ok) throw new Error(`@mizan/kernel-wasm: cannot load ${res.url || url}: HTTP ${res.status}`);
  if ((res.headers.get('content-type') || '').split(';')[0].trim() === 'application/wasm' && WebAssembly.compileStreaming) {
    return WebAssembly.compileStreaming(res);
  }
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new Error(`@mizan/kernel-wasm: ${res.url || url} is not a WebAssembly module (the server sent something else)`);
  }
  return WebAssembly.compile(bytes);
}

function viteDevFallback(url, file) {
  const marker = '/node_modules/.vite/';
  const i = url.pathname.indexOf(marker);
  if (i < 0) return null;
  return new URL(`${url.pathname.slice(0, i)}/node_modules/@mizan/kernel-wasm/dist/${file}`, url);
}

function base64Bytes(text) {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * Every core module of one component, compiled: the main one from `url` (named `file`) and jco's
 * tiny adapter modules, which the build inlines as base64.
 */
export async function compileModules(url, file, smallModules) {
  return new Map(
    await Promise.all([
      compileCore(url, file).then((m) => [file, m]),
      ...Object.entries(smallModules).map(async ([name, b64]) => [name, await WebAssembly.compile(base64Bytes(b64))]),
    ]),
  );
}
