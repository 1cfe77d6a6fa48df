// The small app with @mizan/kernel-wasm + its React adapter (invalidation comes from the server).
import { createElement as h } from 'react';
import { createRoot } from 'react-dom/client';
import { createClient, httpTransport } from '@mizan/kernel-wasm/client';
import { MizanProvider, useMizanContext, useMutation } from '@mizan/kernel-wasm/react';

const client = createClient({ transport: httpTransport({ baseUrl: '/api/mizan' }) });
client.start();

function TodoList({ listId }) {
  const { data, isLoading } = useMizanContext('todos', { list_id: listId });
  if (isLoading) return h('p', null, 'loading');
  return h('ul', null, data.todo_list.map((t) => h('li', { key: t.id }, t.title)));
}

function AddButton() {
  const { mutate, isPending } = useMutation('add_todo');
  return h('button', { disabled: isPending, onClick: () => mutate({ list_id: 2, title: 'jam' }) }, 'add');
}

createRoot(document.getElementById('root')).render(
  h(MizanProvider, { client }, h('div', null, h(TodoList, { listId: 1 }), h(TodoList, { listId: 2 }), h(AddButton))),
);
