// The React page of test/frameworks.browser.test.js: three todo lists and a user, a button that
// adds a todo to list 2. Each component counts its renders in window.__renders.
import { createElement as h } from 'react';
import { createRoot } from 'react-dom/client';
import { createClient, httpTransport } from '@mizan/kernel-wasm/client';
import { MizanProvider, useMizanContext, useMutation } from '@mizan/kernel-wasm/react';

const client = createClient({ transport: httpTransport({ baseUrl: '/api/mizan' }), staleTime: 60_000 });
client.start();
window.__renders = {};
const rendered = (name) => (window.__renders[name] = (window.__renders[name] ?? 0) + 1);

function TodoList({ listId }) {
  rendered(`list-${listId}`);
  const { data, isLoading, isFetching } = useMizanContext('todos', { list_id: listId });
  if (isLoading) return h('p', { id: `list-${listId}` }, 'loading');
  return h(
    'ul',
    { id: `list-${listId}`, 'data-fetching': String(isFetching) },
    data.todo_list.map((t) => h('li', { key: t.id }, t.title)),
  );
}

function User() {
  rendered('user');
  const { data } = useMizanContext('user', { user_id: 5 });
  return h('p', { id: 'user' }, data ? data.user_profile.name : 'loading');
}

function AddButton() {
  const { mutate, isPending } = useMutation('add_todo');
  return h('button', { id: 'add', disabled: isPending, onClick: () => mutate({ list_id: 2, title: 'jam' }) }, isPending ? 'adding' : 'add jam to list 2');
}

function App() {
  return h('div', null, h(TodoList, { listId: 1 }), h(TodoList, { listId: 2 }), h(TodoList, { listId: 3 }), h(User), h(AddButton));
}

createRoot(document.getElementById('root')).render(h(MizanProvider, { client }, h(App)));
