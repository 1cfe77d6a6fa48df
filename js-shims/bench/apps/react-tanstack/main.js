// The same small app with @tanstack/react-query (the client declares what to invalidate).
import { createElement as h } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClient, QueryClientProvider, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';

const queryClient = new QueryClient();
const getJson = (url, init) => fetch(url, init).then((r) => (r.ok ? r.json() : Promise.reject(new Error(String(r.status)))));

function TodoList({ listId }) {
  const { data, isLoading } = useQuery({
    queryKey: ['todos', { list_id: listId }],
    queryFn: () => getJson(`/api/mizan/ctx/todos/?list_id=${listId}`),
  });
  if (isLoading) return h('p', null, 'loading');
  return h('ul', null, data.todo_list.map((t) => h('li', { key: t.id }, t.title)));
}

function AddButton() {
  const qc = useQueryClient();
  const { mutate, isPending } = useMutation({
    mutationFn: (args) => getJson('/api/mizan/call/', { method: 'POST', body: JSON.stringify({ fn: 'add_todo', args }) }),
    onSuccess: (_r, args) => qc.invalidateQueries({ queryKey: ['todos', { list_id: args.list_id }] }),
  });
  return h('button', { disabled: isPending, onClick: () => mutate({ list_id: 2, title: 'jam' }) }, 'add');
}

createRoot(document.getElementById('root')).render(
  h(QueryClientProvider, { client: queryClient }, h('div', null, h(TodoList, { listId: 1 }), h(TodoList, { listId: 2 }), h(AddButton))),
);
