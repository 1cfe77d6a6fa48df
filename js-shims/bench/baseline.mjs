// The "before" side of a benchmark: the package as it was at a git commit, built in its own
// directory (target/bench-baseline/<commit>/), so one run measures before and after side by side.
//
//   node bench/baseline.mjs [commit]     prepare it (git archive + its own component build + dist/)
//
// `prepareBaseline(commit)` returns the baseline's js-shims directory; the build is skipped when
// it is already there. Its node_modules is this package's (same jco, same Vite).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = resolve(fileURLToPath(new URL('..', import.meta.url)));
const repo = resolve(pkgDir, '..');

/** The commit the "before" figures are measured on (main when the client session work began). */
export const BASELINE = process.env.MIZAN_BASELINE ?? 'b40876d';

const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });

export async function prepareBaseline(commit = BASELINE) {
  const sha = execFileSync('git', ['rev-parse', '--short=12', `${commit}^{commit}`], { cwd: repo, encoding: 'utf8' }).trim();
  const dir = join(repo, 'target', 'bench-baseline', sha);
  const shims = join(dir, 'js-shims');
  if (existsSync(join(shims, 'dist', 'build-info.json'))) return shims;
  console.error(`preparing the baseline ${sha} in ${dir} (once)`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  execFileSync('bash', ['-c', `git archive ${sha} | tar -x -C '${dir}'`], { cwd: repo, stdio: 'inherit' });
  await symlink(join(pkgDir, 'node_modules'), join(shims, 'node_modules'));
  run('nice', ['./scripts/build-component.sh'], dir);
  run('node', ['scripts/build.mjs'], shims);
  return shims;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(await prepareBaseline(process.argv[2]));
}
