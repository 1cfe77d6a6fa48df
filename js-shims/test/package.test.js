// What the published package carries: its licenses, and a README whose links work outside the
// repository (npm shows the README on its own, where `../docs/…` leads nowhere).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const pkgDir = new URL('..', import.meta.url);

test('the README has no links that leave the package', () => {
  const readme = readFileSync(new URL('README.md', pkgDir), 'utf8');
  const relative = [...readme.matchAll(/\]\((?!https?:|#)([^)]+)\)/g)].map((m) => m[1]);
  assert.deepEqual(relative.filter((href) => href.startsWith('..')), []);
});

test('the tarball carries both licenses, the same as the repository', () => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: pkgDir, encoding: 'utf8' });
  const files = JSON.parse(out)[0].files.map((f) => f.path);
  for (const name of ['LICENSE-MIT', 'LICENSE-APACHE']) {
    assert.ok(files.includes(name), `${name} is not packed: ${files.join(', ')}`);
    assert.equal(readFileSync(new URL(name, pkgDir), 'utf8'), readFileSync(new URL(`../${name}`, pkgDir), 'utf8'));
  }
});
