// Bundle-size baseline: the same small app with React alone (no data library), so the other two
// apps' figures can be read as "React + the library".
import { createElement as h, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';

function TodoList({ listId }) {
  const [data, setData] = useState();
  useEffect(() => {
    fetch(`/api/mizan/ctx/todos/?list_id=${listId}`).then((r) => r.json()).then(setData);
  }, [listId]);
  if (!data) return h('p', null, 'loading');
  return h('ul', null, data.todo_list.map((t) => h('li', { key: t.id }, t.title)));
}

function AddButton() {
  const [pending, setPending] = useState(false);
  const add = () => {
    setPending(true);
    fetch('/api/mizan/call/', { method: 'POST', body: JSON.stringify({ fn: 'add_todo', args: { list_id: 2, title: 'jam' } }) }).finally(() => setPending(false));
  };
  return h('button', { disabled: pending, onClick: add }, 'add');
}

createRoot(document.getElementById('root')).render(h('div', null, h(TodoList, { listId: 1 }), h(TodoList, { listId: 2 }), h(AddButton)));
