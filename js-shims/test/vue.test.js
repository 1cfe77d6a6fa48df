// @mizan/kernel-wasm/vue in Node against the in-process app: the composables' refs follow the
// client (reactive params re-subscribe, scope disposal unsubscribes), useMutation's refs, and
// server rendering (vue/server-renderer) with hydrated data and no leaked subscription.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import { createSSRApp, effectScope, h, nextTick, ref } from 'vue';
import { renderToString } from 'vue/server-renderer';
import { createClient, httpTransport } from '@mizan/kernel-wasm/client';
import { mizanPlugin, provideMizan, useMizanContext, useMutation } from '@mizan/kernel-wasm/vue';
import { startApp } from './mizan-app.js';
import { sleep, waitFor } from './helpers.js';

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

test('useMizanContext: refs follow the instance; reactive params re-subscribe; disposal unsubscribes', async () => {
  const c = client();
  const listId = ref(1);
  const scope = effectScope();
  const q = scope.run(() => useMizanContext('todos', () => ({ list_id: listId.value }), { client: c }));
  assert.equal(q.status.value, 'loading');
  await waitFor(() => q.status.value === 'success');
  assert.deepEqual(q.data.value, { todo_list: [{ id: 1, title: 'milk' }] });
  assert.equal(q.isFetching.value, false);
  assert.equal(q.error.value, null);

  listId.value = 2;
  await nextTick();
  await waitFor(() => q.data.value?.todo_list?.[0]?.title === 'bread');

  // Observed: an invalidation refetches list 2 (and not list 1, no longer observed).
  await c.start();
  await c.mutate('add_todo', { list_id: 2, title: 'jam' });
  await waitFor(() => q.data.value.todo_list.length === 2);
  await c.mutate('add_todo', { list_id: 1, title: 'tea' });
  await sleep(30);
  assert.equal(app.count('ctx/todos/?list_id=1'), 1);
  assert.equal(app.count('ctx/todos/?list_id=2'), 2);

  scope.stop();
  await c.mutate('add_todo', { list_id: 2, title: 'rice' });
  await sleep(30);
  assert.equal(app.count('ctx/todos/?list_id=2'), 2, 'no refetch once the scope is gone');
});

test('useMutation: refs through pending → success and error', async () => {
  const c = client();
  await c.start();
  const scope = effectScope();
  const m = scope.run(() => useMutation('rename_user', { client: c }));
  assert.equal(m.status.value, 'idle');
  const p = m.mutateAsync({ user_id: 5, name: 'R' });
  assert.equal(m.isPending.value, true);
  assert.deepEqual(await p, { id: 5, name: 'R' });
  assert.equal(m.status.value, 'success');
  assert.deepEqual(m.data.value, { id: 5, name: 'R' });
  app.fail('call/rename_user', { status: 500 });
  await m.mutate({ user_id: 5, name: 'x' });
  assert.equal(m.isError.value, true);
  assert.equal(m.error.value.code, 'INTERNAL_ERROR');
  scope.stop();
});

test('server rendering: hydrated data in the HTML, no request, no subscription left behind', async () => {
  const server = client();
  await server.fetch('user', { user_id: 5 });
  const browser = client({ hydrate: server.dehydrate(), staleTime: 60_000 });
  const before = app.count('ctx/user/?user_id=5');
  const User = {
    setup() {
      const q = useMizanContext('user', { user_id: 5 });
      return () => h('p', q.data.value?.user_profile?.name ?? 'loading');
    },
  };
  const Root = {
    setup() {
      provideMizan(browser);
      return () => h(User);
    },
  };
  const html = await renderToString(createSSRApp(Root));
  assert.equal(html, '<p>Rana</p>');
  const viaPlugin = await renderToString(createSSRApp(User).use(mizanPlugin(browser)));
  assert.equal(viaPlugin, '<p>Rana</p>');
  browser.invalidate(['user']);
  await sleep(30);
  assert.equal(app.count('ctx/user/?user_id=5'), before, 'nothing observes the instance after SSR');
});
