// Every piece of data comes from a Mizan context through the hooks; every change is a Mizan
// function call. Nothing here refetches by hand: `add_todo` and `toggle_todo` say (in Rust,
// `affects = ["todos"]`) what they invalidate, and the kernel refetches exactly that list.
import { useState, useSyncExternalStore } from 'react';
import { useMizanContext, useMutation } from '@mizan/kernel-wasm/react';
import { requestLog, signIn, signOut } from './client.js';

const USERS = [
  { id: '1', name: 'Alice' },
  { id: '2', name: 'Bob' },
];

export function App() {
  const me = useMizanContext('me');
  const user = me.data?.whoami ?? null;
  return (
    <main>
      <header>
        <h1>Mizan todos</h1>
        <p id="whoami">{me.isLoading ? 'loading' : user ? `Signed in as ${user.name}` : 'Not signed in'}</p>
        <nav>
          {USERS.map((u) => (
            <button key={u.id} id={`sign-in-${u.id}`} disabled={user?.id === u.id} onClick={() => signIn(u.id)}>
              Sign in as {u.name}
            </button>
          ))}
          <button id="sign-out" disabled={!user} onClick={() => signOut()}>
            Sign out
          </button>
        </nav>
      </header>
      {user ? <Lists /> : <p id="signed-out">Sign in to see your lists.</p>}
      <RequestPanel />
    </main>
  );
}

function Lists() {
  const { data, error } = useMizanContext('lists');
  if (error) return <p className="error">{error.message}</p>;
  if (!data) return <p>loading lists</p>;
  return (
    <section className="lists">
      {data.my_lists.map((list) => (
        <TodoList key={list.id} list={list} />
      ))}
    </section>
  );
}

/** What the list shows the moment Add is pressed, until the server's answer replaces it. */
const optimisticAdd = ({ list_id, title }) => [
  { context: 'todos', params: { list_id }, slot: 'todo_items', value: { id: -Date.now(), list_id, title, done: false } },
];

function TodoList({ list }) {
  const { data, isFetching, error } = useMizanContext('todos', { list_id: list.id });
  const add = useMutation('add_todo', { optimistic: optimisticAdd });
  const toggle = useMutation('toggle_todo');
  const [title, setTitle] = useState('');
  const submit = (e) => {
    e.preventDefault();
    add.mutate({ list_id: list.id, title });
    setTitle('');
  };
  return (
    <article className="list">
      <h2>
        {list.name} {list.shared && <small>shared</small>}
      </h2>
      {error && <p className="error">{error.message}</p>}
      <ul id={`list-${list.id}`} data-fetching={String(isFetching)}>
        {(data?.todo_items ?? []).map((todo) => (
          <li key={todo.id} className={`${todo.done ? 'done' : ''} ${todo.id < 0 ? 'pending' : ''}`}>
            <label>
              <input
                type="checkbox"
                checked={todo.done}
                disabled={todo.id < 0}
                onChange={() => toggle.mutate({ list_id: list.id, todo_id: todo.id })}
              />
              {todo.title}
            </label>
          </li>
        ))}
      </ul>
      <form onSubmit={submit}>
        <input id={`new-${list.id}`} value={title} placeholder="New item" onChange={(e) => setTitle(e.target.value)} />
        <button id={`add-${list.id}`} type="submit" disabled={!title.trim()}>
          Add
        </button>
      </form>
      {add.error && <p className="error">{add.error.message}</p>}
    </article>
  );
}

function RequestPanel() {
  useSyncExternalStore(requestLog.subscribe, requestLog.version);
  const counts = Object.entries(requestLog.counts()).sort(([a], [b]) => a.localeCompare(b));
  return (
    <aside>
      <h2>Requests over IPC</h2>
      <table id="requests">
        <tbody>
          {counts.map(([name, n]) => (
            <tr key={name}>
              <td>{name}</td>
              <td>{n}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </aside>
  );
}
