// The code generator from Node: `npx mizan-generate` (the codegen component, dist/codegen.*)
// against `mizan generate` (the same Rust, native) on every fixture and target; `--check`; the
// golden TypeScript through `tsc --strict`; and generated stage 1 + React code driving the
// client against the in-process app (test/mizan-app.js).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, readFile, readdir, symlink, writeFile, copyFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { createElement as h } from 'react';
import { renderToString } from 'react-dom/server';
import { createClient, httpTransport } from '@mizan/kernel-wasm/client';
import { generator } from '../dist/codegen.js';
import { consumerDir, pkgDir, waitFor } from './helpers.js';
import { KDL, startApp } from './mizan-app.js';

const repo = resolve(pkgDir, '..');
const TARGETS = ['stage1', 'react', 'vue', 'svelte', 'python', 'rust'];
/** Fixture → IR file (repository-relative); the golden files are tests/codegen/<target>/<fixture>/. */
const FIXTURES = { edge: 'tests/codegen/edge.kdl', parity: 'tests/fixtures/ir/parity.kdl', shop: 'tests/fixtures/ir/shop.kdl' };
/** What each target adds to stage 1's mizan.ts. */
const OWN_FILES = { stage1: ['mizan.ts'], react: ['react.ts'], vue: ['vue.ts'], svelte: ['svelte.ts'], python: ['mizan_client.py'], rust: ['mizan_client.rs'] };
const tsc = join(pkgDir, 'node_modules', '.bin', 'tsc');

const projects = [];
async function project(prefix) {
  const p = await consumerDir(prefix);
  projects.push(p);
  // What `npm install` does for a package's "bin": so `npx mizan-generate` finds it.
  await mkdir(join(p.dir, 'node_modules', '.bin'), { recursive: true });
  await symlink(join(pkgDir, 'bin', 'mizan-generate.mjs'), join(p.dir, 'node_modules', '.bin', 'mizan-generate'));
  return p.dir;
}
after(async () => {
  for (const p of projects.splice(0)) await p.remove();
});

let mizan; // the native CLI
before(() => {
  execFileSync('cargo', ['build', '--quiet', '--bin', 'mizan'], { cwd: repo, stdio: 'inherit' });
  mizan = join(repo, 'target', 'debug', 'mizan');
});

const tools = {
  native: (cwd, args) => spawnSync(mizan, ['generate', ...args], { cwd, encoding: 'utf8' }),
  npx: (cwd, args) => spawnSync('npx', ['--no-install', 'mizan-generate', ...args], { cwd, encoding: 'utf8' }),
};

async function writeConfig(dir, { targets = TARGETS, kdl }) {
  await mkdir(dir, { recursive: true });
  const toml = `output = "out"\ntargets = ${JSON.stringify(targets)}\n\n[source]\nkdl = ${JSON.stringify(kdl)}\n`;
  await writeFile(join(dir, 'mizan.toml'), toml);
}

async function readTree(dir) {
  const out = {};
  for (const name of (await readdir(dir)).sort()) out[name] = await readFile(join(dir, name));
  return out;
}

test('npx mizan-generate and mizan generate write the same bytes for every target, equal to the golden files', async () => {
  const root = await project('mizan-codegen-same-');
  for (const [fixture, ir] of Object.entries(FIXTURES)) {
    const trees = {};
    for (const [tool, run] of Object.entries(tools)) {
      const dir = join(root, fixture, tool);
      await writeConfig(dir, { kdl: join(repo, ir) });
      const r = run(dir, ['--config', 'mizan.toml']);
      assert.equal(r.status, 0, `${tool} ${fixture}: ${r.stderr}`);
      assert.match(r.stdout, /6 generated files, 6 changed/);
      trees[tool] = await readTree(join(dir, 'out'));
    }
    assert.deepEqual(Object.keys(trees.npx), ['mizan.ts', 'mizan_client.py', 'mizan_client.rs', 'react.ts', 'svelte.ts', 'vue.ts']);
    for (const name of Object.keys(trees.native)) {
      assert.ok(trees.native[name].equals(trees.npx[name]), `${fixture}/${name}: the two tools differ`);
    }
    for (const target of TARGETS) {
      for (const name of OWN_FILES[target]) {
        const golden = await readFile(join(repo, 'tests', 'codegen', target, fixture, name));
        assert.ok(golden.equals(trees.npx[name]), `${fixture}/${name} differs from tests/codegen/${target}/${fixture}/${name}`);
      }
    }
  }
});

test('every kind of source (an IR file, FastAPI, Django, a Rust binary) gives the same files in both tools', async () => {
  const root = await project('mizan-codegen-sources-');
  const python = join(repo, '.venv', 'bin', 'python');
  const sources = {
    kdl: `[source]\nkdl = ${JSON.stringify(join(repo, 'tests', 'wire', 'app.kdl'))}\n`,
    fastapi: `[source.fastapi]\nmodule = "app:app"\ncwd = ${JSON.stringify(join(repo, 'examples', 'fastapi_app'))}\ncommand = [${JSON.stringify(python)}]\n`,
    django: `[source.django]\nmanage_path = ${JSON.stringify(join(repo, 'examples', 'django_app', 'manage.py'))}\ncommand = [${JSON.stringify(python)}]\n` +
      `[source.django.env]\nDJANGO_SETTINGS_MODULE = "wire_django.settings"\n`,
    rust: `[source.rust]\nmanifest_path = ${JSON.stringify(join(repo, 'tests', 'codegen', 'ir-bin', 'Cargo.toml'))}\nbin = "print-ir"\n` +
      `[source.rust.env]\nCARGO_TARGET_DIR = ${JSON.stringify(join(repo, 'target', 'ir-bin'))}\n`,
  };
  let reference;
  for (const [kind, source] of Object.entries(sources)) {
    for (const [tool, run] of Object.entries(tools)) {
      const dir = join(root, kind, tool);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'mizan.toml'), `output = "out"\ntargets = ${JSON.stringify(TARGETS)}\n\n${source}`);
      const r = run(dir, []);
      assert.equal(r.status, 0, `${kind} with ${tool}: ${r.stderr}`);
      const tree = await readTree(join(dir, 'out'));
      reference ??= tree;
      assert.deepEqual(Object.keys(tree), Object.keys(reference));
      for (const name of Object.keys(tree)) assert.ok(tree[name].equals(reference[name]), `${kind} with ${tool}: ${name} differs`);
    }
  }
  const failing = join(root, 'failing');
  await mkdir(failing);
  await writeFile(join(failing, 'mizan.toml'), `output = "out"\ntargets = ["stage1"]\n[source.fastapi]\nmodule = "no_such_module"\ncommand = [${JSON.stringify(python)}]\n`);
  for (const [tool, run] of Object.entries(tools)) {
    const r = run(failing, []);
    assert.equal(r.status, 2, tool);
    assert.match(r.stderr, /No module named 'no_such_module'/, `${tool}: the command's own stderr reaches the user`);
    assert.match(r.stderr, /error: `.*python -m mizan_kernel ir no_such_module` \(in \.\) failed \(exit status: 1\)/, tool);
  }
});

test('the packed package installs with a working mizan-generate (bin entry, component files)', async () => {
  const root = await project('mizan-codegen-pack-');
  const packed = spawnSync('npm', ['pack', '--silent', '--pack-destination', root], { cwd: pkgDir, encoding: 'utf8' });
  assert.equal(packed.status, 0, packed.stderr);
  const tarball = join(root, packed.stdout.trim().split('\n').at(-1));
  const app = join(root, 'app');
  await mkdir(app);
  await writeFile(join(app, 'package.json'), '{"name": "app", "private": true}');
  const installed = spawnSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], { cwd: app, encoding: 'utf8' });
  assert.equal(installed.status, 0, installed.stderr);
  await writeConfig(app, { targets: ['vue', 'python'], kdl: join(repo, FIXTURES.parity) });
  const r = spawnSync('npx', ['--no-install', 'mizan-generate'], { cwd: app, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  for (const [target, name] of [['stage1', 'mizan.ts'], ['vue', 'vue.ts'], ['python', 'mizan_client.py']]) {
    const golden = await readFile(join(repo, 'tests', 'codegen', target, 'parity', name));
    assert.ok(golden.equals(await readFile(join(app, 'out', name))), name);
  }
});

test('--check: 0 when up to date; 1 listing what is stale; a file no target writes any more is deleted', async () => {
  const root = await project('mizan-codegen-check-');
  for (const [tool, run] of Object.entries(tools)) {
    const dir = join(root, tool);
    await writeConfig(dir, { targets: ['react', 'python'], kdl: join(repo, FIXTURES.shop) });
    let r = run(dir, ['--check']);
    assert.equal(r.status, 1, `${tool}: ${r.stderr}`);
    assert.match(r.stdout, /stale: out\/mizan\.ts \(would create\)/);
    assert.equal(run(dir, []).status, 0);
    r = run(dir, ['--check']);
    assert.equal(r.status, 0, `${tool}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /3 generated files are up to date/);

    await writeFile(join(dir, 'out', 'react.ts'), 'edited by hand\n');
    await writeFile(join(dir, 'out', 'vue.ts'), 'my own file, not generated\n');
    r = run(dir, ['--check']);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, 'stale: out/react.ts (would update)\n', `${tool}: a user's own vue.ts is not ours to touch`);
    assert.match(r.stderr, /1 of 3 generated files are stale/);

    await writeConfig(dir, { targets: ['react'], kdl: join(repo, FIXTURES.shop) });
    r = run(dir, []);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /delete: out\/mizan_client\.py/);
    assert.match(r.stdout, /update: out\/react\.ts/);
    assert.deepEqual(Object.keys(await readTree(join(dir, 'out'))), ['mizan.ts', 'react.ts', 'vue.ts']);
  }
});

test('errors: a bad mizan.toml and a bad IR say where, with exit status 2, alike in both tools', async () => {
  const root = await project('mizan-codegen-errors-');
  const messages = {};
  for (const [tool, run] of Object.entries(tools)) {
    const dir = join(root, tool);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'mizan.toml'), 'output = "out"\ntargets = ["react"]\n[source]\nkdl = "app.kdl"\nkdl2 = 1\n');
    let r = run(dir, []);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /mizan\.toml: invalid-argument: mizan\.toml: line 5, column 1: unknown field `kdl2`/);
    await writeConfig(dir, { kdl: 'app.kdl' });
    await writeFile(join(dir, 'app.kdl'), 'mizan-ir version=1\nfunction f output=Missing\n');
    r = run(dir, []);
    assert.equal(r.status, 2);
    messages[tool] = r.stderr;
  }
  assert.match(messages.npx, /invalid-registry: .*Missing/);
  assert.equal(messages.native, messages.npx);
});

test('golden TypeScript passes tsc --strict, and the types refuse what the server would', async () => {
  const dir = await project('mizan-codegen-tsc-');
  const include = [];
  for (const fixture of Object.keys(FIXTURES)) {
    await mkdir(join(dir, fixture));
    for (const target of ['stage1', 'react', 'vue', 'svelte']) {
      for (const name of OWN_FILES[target]) await copyFile(join(repo, 'tests', 'codegen', target, fixture, name), join(dir, fixture, name));
    }
    include.push(`${fixture}/*.ts`);
  }
  // Uses of the generated API, with @ts-expect-error on what must not compile.
  for (const fixture of ['parity', 'shop']) {
    await copyFile(join(repo, 'tests', 'codegen', 'usage', `${fixture}.ts`), join(dir, fixture, 'usage.ts'));
  }
  const compilerOptions = { strict: true, noEmit: true, target: 'es2022', module: 'esnext', moduleResolution: 'bundler', lib: ['es2022', 'dom'] };
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, include }));
  const r = spawnSync(tsc, ['-p', dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, `tsc:\n${r.stdout}${r.stderr}`);
});

/**
 * Stage 1 + React + Vue + Svelte generated (by the component) for the in-process app's IR and
 * compiled by tsc: `{ api, react, vue, svelte }` modules, imported once.
 */
let compiled;
async function generatedForApp() {
  if (compiled) return compiled;
  const dir = await project('mizan-codegen-run-');
  const gen = generator.Project.parse('output = "src"\ntargets = ["react", "vue", "svelte"]\n[source]\nkdl = "app.kdl"\n');
  await mkdir(join(dir, 'src'));
  for (const f of gen.generate(KDL)) await writeFile(join(dir, f.path), f.contents);
  const compilerOptions = { strict: true, target: 'es2022', module: 'esnext', moduleResolution: 'bundler', rootDir: 'src', outDir: 'out', lib: ['es2022', 'dom'] };
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['src/*.ts'] }));
  const r = spawnSync(tsc, ['-p', dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, `tsc:\n${r.stdout}${r.stderr}`);
  await writeFile(join(dir, 'out', 'package.json'), '{"type": "module"}');
  const load = (name) => import(pathToFileURL(join(dir, 'out', `${name}.js`)));
  compiled = { api: await load('mizan'), react: await load('react'), vue: await load('vue'), svelte: await load('svelte') };
  return compiled;
}

/** The app, a client of it that has started (the app's calls need the session's CSRF token). */
async function live(t, options = {}) {
  const app = await startApp();
  const client = createClient({ transport: httpTransport({ baseUrl: app.base }), listen: false, ...options });
  await client.start();
  t.after(() => {
    client.close();
    app.close();
  });
  return { app, client };
}

/** What a server render would put in the page: the app's list 1 after adding 'eggs'. */
async function serverState(api, app) {
  const server = createClient({ transport: httpTransport({ baseUrl: app.base }), listen: false });
  await server.start();
  await api.fetchTodos({ list_id: 1 }, server);
  await api.callAddTodo({ list_id: 1, title: 'eggs' }, { client: server });
  await api.fetchTodos({ list_id: 1 }, server);
  const state = JSON.parse(JSON.stringify(server.dehydrate()));
  server.close();
  return state;
}

test('generated stage 1: fetchXxx and callXxx over the client, the default client, typed end to end', async (t) => {
  const { api } = await generatedForApp();
  const { app, client } = await live(t);
  api.setDefaultClient(null);
  assert.throws(() => api.fetchTodos({ list_id: 1 }), /no client/);
  assert.deepEqual(await api.fetchTodos({ list_id: 1 }, client), { todo_list: [{ id: 1, title: 'milk' }] });
  assert.equal(app.count('ctx/todos/?list_id=1'), 1);
  api.setDefaultClient(client);
  const added = await api.callAddTodo({ list_id: 1, title: 'eggs' });
  assert.equal(added.title, 'eggs');
  assert.deepEqual(app.calls.at(-1), { fn: 'add_todo', args: { list_id: 1, title: 'eggs' }, csrf: 'csrf-token-123' });
  assert.deepEqual((await api.fetchTodos({ list_id: 1 })).todo_list.map((x) => x.title), ['milk', 'eggs']);
  assert.deepEqual(await api.fetchStats(), { stats_summary: { todos: 4 } });
  api.setDefaultClient(null);
});

test('generated React: MizanContext hydrates the server state, typed hooks read and call', async (t) => {
  const { api, react } = await generatedForApp();
  const { app, client } = await live(t, { staleTime: 60_000 });
  const state = await serverState(api, app);
  const seen = {};
  function Todos() {
    const todos = react.useTodos({ list_id: 1 });
    seen.add = react.useAddTodoMutation();
    return h('ul', null, (todos.data?.todo_list ?? []).map((x) => h('li', { key: x.id }, x.title)));
  }
  const html = renderToString(h(react.MizanContext, { client, state }, h(Todos)));
  assert.equal(html, '<ul><li>milk</li><li>eggs</li></ul>');
  assert.equal(app.count('ctx/todos/?list_id=1'), 2, 'hydrated: no request from the browser client');
  assert.equal(api.getDefaultClient(), client, 'MizanContext makes its client the default');
  assert.equal((await api.callRenameUser({ user_id: 5, name: 'Rana R' })).name, 'Rana R');
  assert.equal((await seen.add.mutateAsync({ list_id: 2, title: 'jam' })).title, 'jam');
  assert.deepEqual(app.calls.at(-1).args, { list_id: 2, title: 'jam' });
  api.setDefaultClient(null);
});

test('generated Vue: the MizanContext component hydrates, a typed composable renders it', async (t) => {
  const { api, vue: gen } = await generatedForApp();
  const { createSSRApp, defineComponent, h: vh } = await import('vue');
  const { renderToString: vueRender } = await import('vue/server-renderer');
  const { app, client } = await live(t, { staleTime: 60_000 });
  const state = await serverState(api, app);
  const Todos = defineComponent({
    setup() {
      const todos = gen.useTodos({ list_id: 1 });
      return () => vh('ul', (todos.data.value?.todo_list ?? []).map((x) => vh('li', x.title)));
    },
  });
  const root = createSSRApp({ render: () => vh(gen.MizanContext, { client, state }, { default: () => vh(Todos) }) });
  // The slot renders as a fragment (Vue's `<!--[-->…<!--]-->` markers around it).
  assert.equal(await vueRender(root), '<!--[--><ul><li>milk</li><li>eggs</li></ul><!--]-->');
  assert.equal(app.count('ctx/todos/?list_id=1'), 2, 'hydrated: no request');
  api.setDefaultClient(null);
});

test('generated Svelte: typed stores over a given client; the mutation store calls', async (t) => {
  const { svelte: gen } = await generatedForApp();
  const { app, client } = await live(t);
  const todos = gen.useTodos({ list_id: 3 }, client);
  const seen = [];
  const stop = todos.subscribe((v) => seen.push(v));
  await waitFor(() => seen.at(-1).isSuccess, 5000, 'the list');
  assert.deepEqual(seen.at(-1).data, { todo_list: [{ id: 3, title: 'eggs' }] });
  const add = gen.useAddTodoMutation(undefined, client);
  assert.equal((await add.mutateAsync({ list_id: 3, title: 'figs' })).title, 'figs');
  await waitFor(() => seen.at(-1).data?.todo_list.length === 2, 5000, 'the refetch after the call invalidated todos');
  stop();
  assert.equal(app.count('call/add_todo'), 1);
});
