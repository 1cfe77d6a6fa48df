// For bench.mjs --compare=<rev>: the server module (`@mizan/kernel-wasm/server`) as it was at a
// git revision, over today's kernel wrappers, so two flows are timed in one run on one kernel
// build. The files of js-shims/src/server that changed since <rev> are written to a temporary
// directory; their imports of unchanged files (and of ../*.js) point at today's, so both flows
// share one `Functions` class and one kernel instance.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const serverDir = join(repo, 'js-shims', 'src', 'server');

const git = (...args) => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });

/** `{mizanHandler, cleanup}` of js-shims/src/server at `rev`. */
export async function loadHandlerAt(rev) {
  const names = git('ls-tree', '--name-only', `${rev}:js-shims/src/server`).split('\n').filter((n) => n.endsWith('.js'));
  const old = new Map(names.map((n) => [n, git('show', `${rev}:js-shims/src/server/${n}`)]));
  const changed = new Set(names.filter((n) => !readdirSync(serverDir).includes(n) || readFileSync(join(serverDir, n), 'utf8') !== old.get(n)));
  const dir = mkdtempSync(join(tmpdir(), 'mizan-flow-'));
  const today = (path) => pathToFileURL(join(serverDir, path)).href;
  for (const n of changed) {
    const text = old.get(n).replace(/from '(\.\.?\/[^']+)'/g, (m, spec) => (spec.startsWith('./') && changed.has(spec.slice(2)) ? m : `from '${today(spec)}'`));
    writeFileSync(join(dir, n), text);
  }
  const entry = changed.has('fetch.js') ? pathToFileURL(join(dir, 'fetch.js')).href : today('fetch.js');
  const { mizanHandler } = await import(entry);
  return { mizanHandler, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
