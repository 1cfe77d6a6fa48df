// @mizan/kernel-wasm/react in Node with react-dom/server against the in-process app: the SSR
// round trip (fetch on the server, render, dehydrate, hydrate, render again without a request),
// the hooks' shapes, and mutations through useMutation's observer. Live re-rendering after a
// mutation is covered in Chromium (test/frameworks.browser.test.js).
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import { createElement as h } from 'react';
import { renderToString } from 'react-dom/server';
import { createClient, httpTransport } from '@mizan/kernel-wasm/client';
import { MizanProvider, useMizanClient, useMizanContext, useMutation } from '@mizan/kernel-wasm/react';
import { startApp } from './mizan-app.js';
import { waitFor } from './helpers.js';

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

function TodoList({ listId, capture }) {
  const q = useMizanContext('todos', { list_id: listId });
  if (capture) capture.q = q;
  if (q.isLoading) return h('p', null, 'loading');
  return h('ul', { 'data-list': listId }, (q.data?.todo_list ?? []).map((t) => h('li', { key: t.id }, t.title)));
}

const render = (c, el) => renderToString(h(MizanProvider, { client: c }, el));

test('SSR round trip: server fetch → render → dehydrate → hydrate → same HTML, no request', async () => {
  const server = client();
  await server.fetch('todos', { list_id: 1 });
  const html = render(server, h(TodoList, { listId: 1 }));
  assert.match(html, /<li>milk<\/li>/);
  assert.equal(app.count('ctx/todos/?list_id=1'), 1);
  const payload = JSON.parse(JSON.stringify(server.dehydrate())); // what goes into the page

  const browser = client({ hydrate: payload, staleTime: 60_000 });
  assert.equal(render(browser, h(TodoList, { listId: 1 })), html, 'first paint has the data');
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(app.count('ctx/todos/?list_id=1'), 1, 'no request for hydrated, fresh data');
});

test('useMizanContext: the documented shape; loading before data; refetch', async () => {
  const c = client();
  const capture = {};
  assert.match(render(c, h(TodoList, { listId: 2, capture })), /loading/);
  assert.deepEqual(Object.keys(capture.q).sort(), ['data', 'error', 'isError', 'isFetching', 'isLoading', 'isStale', 'isSuccess', 'refetch', 'status', 'updatedAt']);
  assert.equal(capture.q.status, 'loading');
  assert.equal(capture.q.isFetching, true);
  assert.equal(capture.q.data, undefined);
  assert.equal(capture.q.error, null);
  await waitFor(() => c.getSnapshot('todos', { list_id: 2 }).isSuccess);
  assert.match(render(c, h(TodoList, { listId: 2, capture })), /<li>bread<\/li>/);
  assert.equal(capture.q.status, 'success');
  const data = await capture.q.refetch();
  assert.deepEqual(data, { todo_list: [{ id: 2, title: 'bread' }] });
  assert.equal(app.count('ctx/todos/?list_id=2'), 2);
});

test('useMizanContext({enabled: false}) observes nothing', () => {
  const c = client();
  const seen = {};
  function Off() {
    seen.q = useMizanContext('todos', { list_id: 3 }, { enabled: false });
    return null;
  }
  render(c, h(Off));
  assert.equal(seen.q.status, 'idle');
  assert.equal(c.instanceCount(), 0);
});

test('useMutation: idle state, then mutateAsync through the observer (merges + invalidation applied)', async () => {
  const c = client();
  await c.start();
  await c.fetch('todos', { list_id: 1 });
  const seen = {};
  function Rename() {
    seen.m = useMutation('rename_todo', { onSuccess: (r) => (seen.ok = r) });
    seen.client = useMizanClient();
    return null;
  }
  render(c, h(Rename));
  assert.equal(seen.client, c);
  assert.equal(seen.m.status, 'idle');
  assert.equal(seen.m.isPending, false);
  assert.equal(typeof seen.m.mutate, 'function');
  const result = await seen.m.mutateAsync({ list_id: 1, id: 1, title: 'oat milk' });
  assert.equal(result.title, 'oat milk');
  assert.equal(seen.ok, result);
  assert.deepEqual(c.getSnapshot('todos', { list_id: 1 }).data.todo_list, [{ id: 1, title: 'oat milk' }], 'merged');
  // mutate() never rejects: the failure lands in the state.
  app.fail('call/rename_todo', { status: 500 });
  assert.equal(await seen.m.mutate({ list_id: 1, id: 1, title: 'x' }), undefined);
});

test('hooks outside a MizanProvider fail with a clear message', () => {
  assert.throws(() => renderToString(h(TodoList, { listId: 1 })), /MizanProvider/);
});
