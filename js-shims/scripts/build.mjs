#!/usr/bin/env node
// Build dist/ from the two kernel artifacts (the same bytes every host loads):
//   ../target/mizan-kernel.wasm         → dist/kernel.{js,small.js,core.wasm}  (the full API, Node)
//   ../target/mizan-kernel-client.wasm  → dist/client.{js,small.js,core.wasm}  (the client, browsers)
// Each is transpiled with jco, two string helpers of the glue are patched (see PATCHES), and the
// tiny adapter modules are embedded so a browser fetches a single .wasm. Also transpile the code
// generator's component, ../target/mizan-codegen.wasm, for `npx mizan-generate` (bin/). Copies
// ../LICENSE-MIT and ../LICENSE-APACHE into the package.
//
//   node scripts/build.mjs            rebuild when the component, jco or this script changed
//   node scripts/build.mjs --force    rebuild unconditionally
//   MIZAN_JCO_PATCH=0 node scripts/build.mjs --force --out /tmp/x   unpatched glue (for the bench)
//
// If a component is missing it runs ../scripts/build-component.sh (cargo + wasm-opt + jco new).
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const pkgDir = resolve(here, '..');
const repo = resolve(pkgDir, '..');
/** The components, by the name of their files in dist/. */
const COMPONENTS = [
  { name: 'kernel', path: join(repo, 'target', 'mizan-kernel.wasm') },
  { name: 'client', path: join(repo, 'target', 'mizan-kernel-client.wasm') },
];
const codegenPath = join(repo, 'target', 'mizan-codegen.wasm');

const args = process.argv.slice(2);
const force = args.includes('--force');
const outIdx = args.indexOf('--out');
const outDir = outIdx >= 0 ? resolve(args[outIdx + 1]) : join(pkgDir, 'dist');
const patch = process.env.MIZAN_JCO_PATCH !== '0';

// jco 1.12.0 glue encodes every string argument with `TextEncoder#encode`, which allocates a new
// buffer per call: ~1.4 µs for a one-character string in Node 20 and ~3 µs in Chromium on the
// reference machine, most of a trivial kernel call. The replacement writes short ASCII strings
// straight into linear memory and uses `encodeInto` (worst-case allocation, then shrink with
// `cabi_realloc`) for the rest. Same bytes, same (ptr, len) contract. jco >= 1.13 does the same
// with `encodeInto` but adds per-call task bookkeeping; see docs/hosts/javascript.md.
const PATCHES = [
  {
    // Every field the glue reads or writes goes through `dataView(memory0)`, which compared
    // `dv.buffer === mem.buffer`: the `WebAssembly.Memory#buffer` getter is a call into the engine
    // each time (hundreds per client update). Growing a memory detaches its old buffer, and a
    // typed array over a detached buffer has length 0: the view is renewed exactly then.
    name: 'dataView: no Memory#buffer call per field',
    find: /const dataView = mem => dv\.buffer === mem\.buffer \? dv : dv = new DataView\(mem\.buffer\);/,
    replace: `// [@mizan/kernel-wasm build patch] see js-shims/scripts/build.mjs
  let dvMem = null;
  let dvBytes = new Uint8Array(0);
  const dataView = (mem) => {
    if (mem !== dvMem || dvBytes.length === 0) {
      dvMem = mem;
      dvBytes = new Uint8Array(mem.buffer);
      dv = new DataView(mem.buffer);
    }
    return dv;
  };`,
  },
  {
    // The mirror image on the way out: every string a call returns was decoded with
    // `utf8Decoder.decode(new Uint8Array(memory0.buffer, ptr, len))`, a typed-array allocation
    // and a native call per string; a client session's output carries hundreds of short keys
    // and paths. Short ASCII strings are made by one `String.fromCharCode` over their bytes
    // (copied into one reused array: V8's fast path for `apply`): a flat string. (Appending char by char made a rope V8 must flatten on its first
    // hashing, and the client uses every key it gets as a Map key: that was ~1 µs per key.)
    name: 'utf8Decode: short ASCII strings without a TextDecoder call each',
    global: true,
    find: /utf8Decoder\.decode\(new Uint8Array\(memory0\.buffer, (ptr\d+), (len\d+)\)\)/g,
    replace: 'utf8Decode(memory0, $1, $2)',
    // One array per length, made once (setting an array's length per string was ~3 % of a
    // client invalidation).
    prelude: `  // [@mizan/kernel-wasm build patch] see js-shims/scripts/build.mjs
  let utf8DecodeView = new Uint8Array(0);
  const utf8DecodeCodes = Array.from({ length: 65 }, (_, n) => Array.from({ length: n }, () => 0));
  function utf8Decode(memory, ptr, len) {
    if (len <= 64) {
      // Detached by a memory.grow: length 0 (one memory per glue).
      if (utf8DecodeView.length === 0) utf8DecodeView = new Uint8Array(memory.buffer);
      const v = utf8DecodeView;
      const codes = utf8DecodeCodes[len];
      let i = 0;
      for (; i < len; i++) {
        const c = v[ptr + i];
        if (c > 0x7f) break;
        codes[i] = c;
      }
      if (i === len) return String.fromCharCode.apply(null, codes);
    }
    return utf8Decoder.decode(new Uint8Array(memory.buffer, ptr, len));
  }
`,
  },
  {
    // A u64 the glue lifts was read signed, then made unsigned: two BigInt operations per
    // request id, timeout, timestamp and slot version (four per refetched instance). The
    // unsigned read gives the same value in one.
    name: 'u64: one unsigned read',
    global: true,
    find: /BigInt\.asUintN\(64, dataView\(memory0\)\.getBigInt64\(([^()]+), true\)\)/g,
    replace: 'dataView(memory0).getBigUint64($1, true)',
  },
  {
    name: 'utf8Encode: no TextEncoder#encode per argument',
    find: /function utf8Encode\(s, realloc, memory\) \{\n\s*if \(typeof s !== 'string'\) throw new TypeError\('expected a string'\);\n\s*if \(s\.length === 0\) \{\n\s*utf8EncodedLen = 0;\n\s*return 1;\n\s*\}\n\s*let buf = utf8Encoder\.encode\(s\);\n\s*let ptr = realloc\(0, 0, 1, buf\.length\);\n\s*new Uint8Array\(memory\.buffer\)\.set\(buf, ptr\);\n\s*utf8EncodedLen = buf\.length;\n\s*return ptr;\n\s*\}/,
    replace: `let utf8View = new Uint8Array(0);
  // [@mizan/kernel-wasm build patch] see js-shims/scripts/build.mjs
  function utf8Encode(s, realloc, memory) {
    if (typeof s !== 'string') throw new TypeError('expected a string');
    const n = s.length;
    if (n === 0) {
      utf8EncodedLen = 0;
      return 1;
    }
    if (n <= 64) {
      let ascii = true;
      for (let i = 0; i < n; i++) if (s.charCodeAt(i) > 0x7f) { ascii = false; break; }
      if (ascii) {
        const ptr = realloc(0, 0, 1, n);
        if (utf8View.buffer !== memory.buffer) utf8View = new Uint8Array(memory.buffer);
        for (let i = 0; i < n; i++) utf8View[ptr + i] = s.charCodeAt(i);
        utf8EncodedLen = n;
        return ptr;
      }
    }
    if (n <= 0x100000) {
      const cap = n * 3;
      let ptr = realloc(0, 0, 1, cap);
      const { written } = utf8Encoder.encodeInto(s, new Uint8Array(memory.buffer, ptr, cap));
      if (written < cap) ptr = realloc(ptr, cap, 1, written);
      utf8EncodedLen = written;
      return ptr;
    }
    const buf = utf8Encoder.encode(s);
    const ptr = realloc(0, 0, 1, buf.length);
    new Uint8Array(memory.buffer).set(buf, ptr);
    utf8EncodedLen = buf.length;
    return ptr;
  }`,
  },
];

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;

// The package carries the repository's licenses (npm packs LICENSE* files by itself).
async function syncLicenses() {
  for (const name of ['LICENSE-MIT', 'LICENSE-APACHE']) {
    if (existsSync(join(repo, name))) await copyFile(join(repo, name), join(pkgDir, name));
  }
}

async function main() {
  await syncLicenses();
  if (COMPONENTS.some((c) => !existsSync(c.path)) || !existsSync(codegenPath)) {
    console.log('a component is missing from target/: running scripts/build-component.sh');
    execFileSync(join(repo, 'scripts', 'build-component.sh'), { stdio: 'inherit', cwd: repo });
  }
  const components = await Promise.all(COMPONENTS.map(async (c) => ({ ...c, bytes: await readFile(c.path) })));
  const codegen = await readFile(codegenPath);
  const jcoPkg = JSON.parse(await readFile(join(pkgDir, 'node_modules/@bytecodealliance/jco/package.json'), 'utf8'));
  const stamp = {
    components_sha256: Object.fromEntries(components.map((c) => [c.name, sha256(c.bytes)])),
    codegen_component_sha256: sha256(codegen),
    jco: jcoPkg.version,
    build_script_sha256: sha256(await readFile(fileURLToPath(import.meta.url))),
    patched: patch,
  };
  const stampPath = join(outDir, 'build-info.json');
  if (!force && existsSync(stampPath)) {
    const old = JSON.parse(await readFile(stampPath, 'utf8'));
    if (JSON.stringify(Object.keys(stamp).map((k) => old[k])) === JSON.stringify(Object.values(stamp))) {
      console.log(`dist/ is up to date (jco ${stamp.jco})`);
      return;
    }
  }
  const out = new Map();
  for (const c of components) for (const [file, bytes] of await transpileOne(c, stamp)) out.set(file, bytes);
  // The code generator runs in Node only (bin/mizan-generate.mjs): jco's default ES module, which
  // compiles codegen.core.wasm from disk at import and inlines its tiny adapter modules.
  const { transpile } = await import('@bytecodealliance/jco');
  const generated = await transpile(codegen, { name: 'codegen', typescript: false, wasiShim: false, quiet: true });
  for (const [file, bytes] of Object.entries(generated.files)) {
    let b = Buffer.from(bytes);
    if (file.endsWith('.js')) {
      b = Buffer.from(`// Generated by js-shims/scripts/build.mjs from target/mizan-codegen.wasm with jco ${stamp.jco}. Do not edit.\n` + b.toString('utf8'));
    }
    out.set(file, b);
  }
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const sizes = {};
  for (const [file, bytes] of out) {
    await writeFile(join(outDir, file), bytes);
    sizes[file] = { raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  }
  await writeFile(stampPath, JSON.stringify({ ...stamp, sizes }, null, 2) + '\n');
  for (const [n, sz] of Object.entries(sizes)) console.log(`dist/${n.padEnd(18)} ${kib(sz.raw).padStart(10)}  gzip ${kib(sz.gzip).padStart(9)}`);
}

/** One component's files: `{name}.js` (the glue), `{name}.small.js`, `{name}.core.wasm`. */
async function transpileOne({ name, path, bytes }, stamp) {
  const { transpile } = await import('@bytecodealliance/jco');
  // `instantiation: 'sync'`: the glue exports `instantiate(getCoreModule, imports)` and builds a
  // fresh instance per call, synchronously once the core modules are compiled. That is what trap
  // recovery needs. No TypeScript (the .d.ts are hand-written), no WASI shim (no imports).
  // `validLiftingOptimization`: the glue trusts what the kernel returns (it is this package's own
  // component) instead of re-checking every enum and bool it lifts; `namespacedExports: false`:
  // the interfaces once, by their camelCase names. Both shrink the glue and its per-call work.
  const { files } = await transpile(bytes, {
    name,
    instantiation: 'sync',
    typescript: false,
    wasiShim: false,
    quiet: true,
    validLiftingOptimization: true,
    namespacedExports: false,
  });
  const byName = new Map(Object.entries(files));
  let glue = Buffer.from(byName.get(`${name}.js`)).toString('utf8');
  if (patch) {
    for (const p of PATCHES) {
      p.find.lastIndex = 0;
      if (!p.find.test(glue)) {
        throw new Error(`jco glue patch "${p.name}" no longer applies (jco ${stamp.jco}); update scripts/build.mjs`);
      }
      p.find.lastIndex = 0;
      glue = glue.replace(p.find, p.replace);
      if (p.prelude) {
        const anchor = '  const utf8Decoder = new TextDecoder();\n';
        if (!glue.includes(anchor)) throw new Error(`jco glue patch "${p.name}": no utf8Decoder to follow (jco ${stamp.jco})`);
        glue = glue.replace(anchor, anchor + p.prelude);
      }
    }
  }
  const header = `// Generated by js-shims/scripts/build.mjs from target/${basename(path)} with jco ${stamp.jco}` +
    `${patch ? ' (patched: dataView, utf8Decode, u64, utf8Encode)' : ''}. Do not edit.\n`;
  // The adapter modules jco splits out (resource destructor shims) are ~150 bytes each: inline them.
  const small = {};
  for (const [file, b] of byName) {
    if (file.endsWith('.wasm') && file !== `${name}.core.wasm`) small[file] = Buffer.from(b).toString('base64');
  }
  const smallJs = `// Generated by js-shims/scripts/build.mjs. Do not edit.\n` +
    `// jco's tiny adapter core modules (resource destructor trampolines), inlined as base64.\n` +
    `export const smallModules = ${JSON.stringify(small, null, 2)};\n`;
  return [
    [`${name}.js`, Buffer.from(header + glue)],
    [`${name}.small.js`, Buffer.from(smallJs)],
    [`${name}.core.wasm`, Buffer.from(byName.get(`${name}.core.wasm`))],
  ];
}

main().catch((e) => {
  console.error(e.message ?? e);
  process.exit(1);
});
