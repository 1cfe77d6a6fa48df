// @mizan/kernel-wasm/svelte in Node against the in-process app: the readable-store contract
// (svelte/store's `get` and `derived` consume it), mutation stores, and a Svelte 5 runes component
// compiled for the server that reads `$store` from hydrated data.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import { compile } from 'svelte/compiler';
import { render } from 'svelte/server';
import { derived, get } from 'svelte/store';
import { createClient, httpTransport } from '@mizan/kernel-wasm/client';
import { contextStore, mutationStore } from '@mizan/kernel-wasm/svelte';
import { startApp } from './mizan-app.js';
import { consumerDir, sleep, waitFor } from './helpers.js';

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

test('contextStore: the readable contract; updates only for its own instance', async () => {
  // staleTime: `get()` subscribes for a moment, and a new subscriber on stale data refetches.
  const c = client({ staleTime: 60_000 });
  await c.start();
  const l1 = contextStore(c, 'todos', { list_id: 1 });
  const l2 = contextStore(c, 'todos', { list_id: 2 });
  const seen1 = [];
  const seen2 = [];
  const stop1 = l1.subscribe((v) => seen1.push(v));
  const stop2 = l2.subscribe((v) => seen2.push(v));
  assert.equal(seen1[0].status, 'loading', 'run synchronously with the current value');
  await waitFor(() => seen1.at(-1).isSuccess && seen2.at(-1).isSuccess);
  const titles = derived(l2, (v) => (v.data?.todo_list ?? []).map((t) => t.title));
  assert.deepEqual(get(titles), ['bread']);
  const n1 = seen1.length;
  await c.mutate('add_todo', { list_id: 2, title: 'jam' });
  await waitFor(() => seen2.at(-1).data.todo_list.length === 2 && !seen2.at(-1).isFetching);
  assert.equal(seen1.length, n1, 'list 1 subscribers heard nothing');
  assert.equal(app.count('ctx/todos/?list_id=1'), 1);
  assert.equal(app.count('ctx/todos/?list_id=2'), 2);
  assert.equal(typeof seen2.at(-1).refetch, 'function');
  stop1();
  stop2();
});

test('mutationStore: pending → success, with mutate on the store', async () => {
  const c = client();
  await c.start();
  const m = mutationStore(c, 'rename_user');
  const seen = [];
  const stop = m.subscribe((v) => seen.push(v.status));
  const r = await m.mutateAsync({ user_id: 6, name: 'S' });
  assert.deepEqual(r, { id: 6, name: 'S' });
  assert.deepEqual(seen, ['idle', 'pending', 'success']);
  stop();
});

test('a Svelte 5 runes component ($store, setMizanClient/useMizanContext) rendered on the server', async () => {
  const server = client();
  await server.fetch('todos', { list_id: 3 });
  const browser = client({ hydrate: server.dehydrate(), staleTime: 60_000 });
  const source = `<script>
  import { setMizanClient, useMizanContext } from '@mizan/kernel-wasm/svelte';
  let { client } = $props();
  setMizanClient(client);
  const todos = useMizanContext('todos', { list_id: 3 });
</script>
<ul>{#each $todos.data?.todo_list ?? [] as t (t.id)}<li>{t.title}</li>{/each}</ul>
<p>{$todos.status}</p>`;
  const { js } = compile(source, { generate: 'server', runes: true, filename: 'Todos.svelte' });
  const proj = await consumerDir('mizan-svelte-ssr-');
  try {
    const file = join(proj.dir, 'Todos.js');
    await writeFile(file, js.code);
    const { default: Todos } = await import(pathToFileURL(file).href);
    const { body } = render(Todos, { props: { client: browser } });
    assert.match(body, /<li>eggs<\/li>/);
    assert.match(body, /<p>success<\/p>/);
    await sleep(20);
    assert.equal(app.count('ctx/todos/?list_id=3'), 1, 'hydrated: no request');
  } finally {
    await proj.remove();
  }
});
