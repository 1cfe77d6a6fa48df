// The client as an interpreter of the kernel's client session: what a new user hit (a failing or
// hanging session start must not hold the page, typed hooks over interfaces, config typos), the
// focus/online seams, hydration keeping the payload's objects. Against the in-process app.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import { createClient, focusManager, httpTransport, MizanRequestError } from '../src/client/index.js';
import { startApp } from './mizan-app.js';
import { consumerDir, pkgDir, waitFor } from './helpers.js';

let app;
const clients = [];

before(async () => {
  app = await startApp();
});
after(() => app.close());
beforeEach(() => app.reset());
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

function client(extra = {}) {
  const c = createClient({ transport: httpTransport({ baseUrl: app.base }), listen: false, ...extra });
  clients.push(c);
  return c;
}

test('start() rejects at the first failed attempt; the session is retried for the calls, and pages render meanwhile', async () => {
  app.fail('session/', { status: 503, times: 1 });
  const c = client({ retryBaseMs: 40, retryMaxMs: 40 });
  const t0 = Date.now();
  const err = await c.start().then(() => null, (e) => e);
  assert.ok(err instanceof MizanRequestError, String(err));
  assert.equal(err.status, 503);
  assert.ok(Date.now() - t0 < 1000, 'no waiting for the retries');
  // Reads never wait for the session.
  assert.deepEqual(await c.fetch('user', { user_id: 5 }), { user_profile: { id: 5, name: 'Rana' } });
  // A call waits for the retried session and carries its token.
  const result = await c.mutate('rename_user', { user_id: 5, name: 'S' });
  assert.equal(result.name, 'S');
  assert.equal(app.count('session/'), 2);
  assert.equal(app.calls.at(-1).csrf, 'csrf-token-123');
  assert.deepEqual(await c.start(), { csrfToken: 'csrf-token-123' });
});

test('a hanging session start rejects after requestTimeoutMs instead of holding the page', async () => {
  const release = app.hold('session/');
  try {
    const c = client({ requestTimeoutMs: 100, retry: 0 });
    const t0 = Date.now();
    const err = await c.start().then(() => null, (e) => e);
    assert.equal(err.code, 'NETWORK_ERROR');
    assert.match(err.message, /100 ms/);
    assert.ok(Date.now() - t0 < 2000);
  } finally {
    release();
  }
});

test('focusManager.setEventListener: another source of focus events, no DOM needed', async () => {
  let fire = null;
  let cleaned = 0;
  focusManager.setEventListener((f) => {
    fire = f;
    return () => cleaned++;
  });
  try {
    const c = createClient({ transport: httpTransport({ baseUrl: app.base }) }); // listens: the managers
    clients.push(c);
    const stop = c.subscribe('user', { user_id: 5 }, () => {});
    await waitFor(() => c.getSnapshot('user', { user_id: 5 }).isSuccess);
    assert.equal(typeof fire, 'function', 'the client listens to the focus manager');
    fire();
    await waitFor(() => app.count('ctx/user/?user_id=5') === 2, 5000, 'a refetch on focus');
    stop();
    c.close();
    assert.equal(cleaned, 1, 'the last client to stop listening cleans the source up');
  } finally {
    focusManager.setEventListener(() => undefined);
  }
});

test('hydrated data keeps the payload objects; a refetch with the same values keeps them too', async () => {
  const data = { user_profile: { id: 5, name: 'Rana' } };
  const c = client({ staleTime: 60_000, hydrate: { version: 1, instances: [{ context: 'user', params: { user_id: 5 }, data }] } });
  const s = c.getSnapshot('user', { user_id: 5 });
  assert.equal(s.status, 'success');
  assert.equal(s.data, data, 'the hydrated bundle is the snapshot data');
  assert.equal(app.count('ctx/user/?user_id=5'), 0);
  await c.refetch('user', { user_id: 5 });
  assert.equal(c.getSnapshot('user', { user_id: 5 }).data, data, 'same values: same objects');
});

test('types: hooks take interfaces, config typos do not compile (tsc --strict)', async () => {
  const proj = await consumerDir('mizan-types-');
  try {
    await mkdir(join(proj.dir, 'src'));
    await writeFile(
      join(proj.dir, 'src', 'app.ts'),
      `import { createClient, httpTransport, type Snapshot } from '@mizan/kernel-wasm/client';
import { useMizanContext } from '@mizan/kernel-wasm/react';
import { useMizanContext as useVue } from '@mizan/kernel-wasm/vue';
import { contextStore } from '@mizan/kernel-wasm/svelte';

interface Todo { id: number; title: string }
interface Todos { todo_list: Todo[] }

const client = createClient({ transport: httpTransport(), staleTime: 1000, retry: false, requestTimeoutMs: 5000, gc_time_ms: 10 });
// @ts-expect-error a typo is not an option
createClient({ transport: httpTransport(), stalTime: 1000 });
// @ts-expect-error nor is a misspelled snake_case key
createClient({ transport: httpTransport(), stale_time: 1000 });

export function List(): string {
  const { data } = useMizanContext<Todos>('todos', { list_id: 1 });
  return data ? data.todo_list.map((t) => t.title).join() : '';
}
export const vue = useVue<Todos>('todos', { list_id: 1 });
export const svelte = contextStore<Todos>(client, 'todos', { list_id: 1 });
export const fetched: Promise<Todos> = client.fetch<Todos>('todos', { list_id: 1 });
export const snap: Snapshot<Todos> = client.getSnapshot<Todos>('todos');
`,
    );
    const compilerOptions = { strict: true, noEmit: true, target: 'es2022', module: 'esnext', moduleResolution: 'bundler', lib: ['es2022', 'dom'], skipLibCheck: true };
    await writeFile(join(proj.dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['src/*.ts'] }));
    const r = spawnSync(join(pkgDir, 'node_modules', '.bin', 'tsc'), ['-p', proj.dir], { encoding: 'utf8' });
    assert.equal(r.status, 0, `tsc:\n${r.stdout}${r.stderr}`);
  } finally {
    await proj.remove();
  }
});
