#!/usr/bin/env node
// Build dist/ from the one kernel artifact, ../target/mizan-kernel.wasm (the same bytes every host
// loads): transpile it with jco, patch one string helper of the glue (see PATCHES), and embed the
// two tiny adapter modules so a browser fetches a single .wasm. Also transpile the code
// generator's component, ../target/mizan-codegen.wasm, for `npx mizan-generate` (bin/). Copies
// ../LICENSE-MIT and ../LICENSE-APACHE into the package.
//
//   node scripts/build.mjs            rebuild when the component, jco or this script changed
//   node scripts/build.mjs --force    rebuild unconditionally
//   MIZAN_JCO_PATCH=0 node scripts/build.mjs --force --out /tmp/x   unpatched glue (for the bench)
//
// If the component is missing it runs ../scripts/build-component.sh (cargo + wasm-opt + jco new).
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const pkgDir = resolve(here, '..');
const repo = resolve(pkgDir, '..');
const componentPath = join(repo, 'target', 'mizan-kernel.wasm');
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
  if (!existsSync(componentPath) || !existsSync(codegenPath)) {
    console.log('a component is missing from target/: running scripts/build-component.sh');
    execFileSync(join(repo, 'scripts', 'build-component.sh'), { stdio: 'inherit', cwd: repo });
  }
  const component = await readFile(componentPath);
  const codegen = await readFile(codegenPath);
  const jcoPkg = JSON.parse(await readFile(join(pkgDir, 'node_modules/@bytecodealliance/jco/package.json'), 'utf8'));
  const stamp = {
    component_sha256: sha256(component),
    codegen_component_sha256: sha256(codegen),
    jco: jcoPkg.version,
    build_script_sha256: sha256(await readFile(fileURLToPath(import.meta.url))),
    patched: patch,
  };
  const stampPath = join(outDir, 'build-info.json');
  if (!force && existsSync(stampPath)) {
    const old = JSON.parse(await readFile(stampPath, 'utf8'));
    if (Object.keys(stamp).every((k) => old[k] === stamp[k])) {
      console.log(`dist/ is up to date (component ${stamp.component_sha256.slice(0, 12)}, jco ${stamp.jco})`);
      return;
    }
  }

  const { transpile } = await import('@bytecodealliance/jco');
  // `instantiation: 'sync'`: the glue exports `instantiate(getCoreModule, imports)` and builds a
  // fresh instance per call, synchronously once the core modules are compiled. That is what trap
  // recovery needs. No TypeScript (src/index.d.ts is hand-written), no WASI shim (no imports).
  const { files } = await transpile(component, {
    name: 'kernel',
    instantiation: 'sync',
    typescript: false,
    wasiShim: false,
    quiet: true,
  });
  const byName = new Map(Object.entries(files));
  let glue = Buffer.from(byName.get('kernel.js')).toString('utf8');
  if (patch) {
    for (const p of PATCHES) {
      if (!p.find.test(glue)) {
        throw new Error(`jco glue patch "${p.name}" no longer applies (jco ${stamp.jco}); update scripts/build.mjs`);
      }
      glue = glue.replace(p.find, p.replace);
    }
  }
  const header = `// Generated by js-shims/scripts/build.mjs from target/mizan-kernel.wasm with jco ${stamp.jco}` +
    `${patch ? ' (patched: utf8Encode)' : ''}. Do not edit.\n`;
  glue = header + glue;

  // The adapter modules jco splits out (resource destructor shims) are ~150 bytes each: inline them.
  const small = {};
  for (const [name, bytes] of byName) {
    if (name.endsWith('.wasm') && name !== 'kernel.core.wasm') small[name] = Buffer.from(bytes).toString('base64');
  }
  const smallJs = `// Generated by js-shims/scripts/build.mjs. Do not edit.\n` +
    `// jco's tiny adapter core modules (resource destructor trampolines), inlined as base64.\n` +
    `export const smallModules = ${JSON.stringify(small, null, 2)};\n`;
  const core = Buffer.from(byName.get('kernel.core.wasm'));

  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'kernel.js'), glue);
  await writeFile(join(outDir, 'kernel.small.js'), smallJs);
  await writeFile(join(outDir, 'kernel.core.wasm'), core);
  const outputs = [['kernel.js', Buffer.from(glue)], ['kernel.small.js', Buffer.from(smallJs)], ['kernel.core.wasm', core]];

  // The code generator runs in Node only (bin/mizan-generate.mjs): jco's default ES module, which
  // compiles codegen.core.wasm from disk at import and inlines its tiny adapter modules.
  const generated = await transpile(codegen, { name: 'codegen', typescript: false, wasiShim: false, quiet: true });
  for (const [name, bytes] of Object.entries(generated.files)) {
    let out = Buffer.from(bytes);
    if (name.endsWith('.js')) {
      out = Buffer.from(`// Generated by js-shims/scripts/build.mjs from target/mizan-codegen.wasm with jco ${stamp.jco}. Do not edit.\n` + out.toString('utf8'));
    }
    await writeFile(join(outDir, name), out);
    outputs.push([name, out]);
  }
  const sizes = {};
  for (const [n, b] of outputs) {
    sizes[n] = { raw: b.length, gzip: gzipSync(b, { level: 9 }).length };
  }
  await writeFile(stampPath, JSON.stringify({ ...stamp, sizes }, null, 2) + '\n');
  for (const [n, s] of Object.entries(sizes)) console.log(`dist/${n.padEnd(18)} ${kib(s.raw).padStart(10)}  gzip ${kib(s.gzip).padStart(9)}`);
}

main().catch((e) => {
  console.error(e.message ?? e);
  process.exit(1);
});
