// Shared bits of the client and adapter tests.
import { mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const pkgDir = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

/** Poll until `cond()` is truthy (or fail after `ms`). */
export async function waitFor(cond, ms = 5000, what = 'condition') {
  const end = Date.now() + ms;
  for (;;) {
    const v = cond();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A throw-away consumer project: `node_modules/` links every installed package of js-shims plus
 * `@mizan/kernel-wasm` itself (or the package at `pkg`: the benchmark's baseline), so code in it
 * imports the package by name through its `exports`.
 */
export async function consumerDir(prefix = 'mizan-consumer-', pkg = pkgDir) {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const nm = join(dir, 'node_modules');
  await mkdir(join(nm, '@mizan'), { recursive: true });
  for (const name of await readdir(join(pkgDir, 'node_modules'))) {
    if (name.startsWith('.') || name === '@mizan') continue;
    await symlink(join(pkgDir, 'node_modules', name), join(nm, name));
  }
  await symlink(pkg, join(nm, '@mizan', 'kernel-wasm'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** A fake timer host: `timers` for createClient, `fire()` runs the pending one. */
export function fakeTimers() {
  let seq = 0;
  const pending = new Map();
  const delays = [];
  return {
    timers: {
      setTimeout(fn, ms) {
        delays.push(ms);
        const id = ++seq;
        pending.set(id, { fn, ms });
        return id;
      },
      clearTimeout(id) {
        pending.delete(id);
      },
    },
    /** The delays asked for, in order. */
    delays,
    pending: () => [...pending.values()],
    fire() {
      const [id, t] = [...pending.entries()][0] ?? [];
      if (!t) return false;
      pending.delete(id);
      t.fn();
      return true;
    },
  };
}
