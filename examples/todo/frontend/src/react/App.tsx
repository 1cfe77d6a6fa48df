// The React page: who is signed in (context `global`), their own list (`todos`) and the shared
// one (`shared`), all through the hooks generated from the backend's IR (src/api/react.ts).
import { useState, type FormEvent } from 'react';
import type { MizanClient } from '@mizan/kernel-wasm/client';
import type { Todo } from '../api/mizan.js';
import {
  useAddSharedTodoMutation,
  useAddTodoMutation,
  useGlobal,
  useShared,
  useTodos,
  useToggleSharedTodoMutation,
  useToggleTodoMutation,
} from '../api/react.js';
import { transportKind } from '../client.js';
import { NAME, signIn, signOut } from '../session.js';
import { isPending, optimisticAdd, optimisticToggle } from '../todos.js';

export function App({ client }: { client: MizanClient }) {
  const global = useGlobal();
  // Signing out unmounts the lists first, so that nothing asks for them once the cookie is gone.
  const [leaving, setLeaving] = useState(false);
  if (global.data === undefined || leaving) return <p id="loading">Loading…</p>;
  const me = global.data.me;
  if (me === null) return transportKind === 'http' ? <SignIn client={client} /> : <p id="anonymous">The host gave no identity.</p>;
  const leave = async () => {
    setLeaving(true);
    try {
      await signOut(client);
    } finally {
      setLeaving(false);
    }
  };
  return (
    <>
      <header>
        <h1>
          Todos of <span id="me">{me.name}</span>
        </h1>
        {transportKind === 'http' && (
          <button id="sign-out" onClick={leave}>
            Sign out
          </button>
        )}
      </header>
      <main>
        <MyTodos author={me.name} />
        <SharedTodos author={me.name} />
      </main>
    </>
  );
}

function SignIn({ client }: { client: MizanClient }) {
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await signIn(client, name.trim().toLowerCase());
    } catch (err) {
      setError(String((err as Error).message));
    }
  };
  return (
    <form id="sign-in" onSubmit={submit}>
      <input name="name" placeholder="your name (alice, bob…)" value={name} onChange={(e) => setName(e.target.value)} />
      <button disabled={!NAME.test(name.trim().toLowerCase())}>Sign in</button>
      {error && <p className="error">{error}</p>}
    </form>
  );
}

function MyTodos({ author }: { author: string }) {
  const todos = useTodos();
  const add = useAddTodoMutation({ optimistic: (args) => optimisticAdd('todos', author, String(args.title)) });
  const toggle = useToggleTodoMutation();
  return (
    <TodoList
      id="mine"
      title="My todos"
      todos={todos.data?.my_todos}
      status={todos.status}
      fetching={todos.isFetching}
      error={todos.error?.message ?? add.error?.message}
      onAdd={(title) => add.mutate({ title })}
      onToggle={(todo) => toggle.mutate({ id: todo.id }, { optimistic: optimisticToggle('todos', todo) })}
      onRefresh={() => todos.refetch()}
    />
  );
}

function SharedTodos({ author }: { author: string }) {
  const shared = useShared();
  const add = useAddSharedTodoMutation({ optimistic: (args) => optimisticAdd('shared', author, String(args.title)) });
  const toggle = useToggleSharedTodoMutation();
  return (
    <TodoList
      id="shared"
      title="Shared with everyone"
      todos={shared.data?.shared_todos}
      status={shared.status}
      fetching={shared.isFetching}
      error={shared.error?.message ?? add.error?.message}
      onAdd={(title) => add.mutate({ title })}
      onToggle={(todo) => toggle.mutate({ id: todo.id }, { optimistic: optimisticToggle('shared', todo) })}
      onRefresh={() => shared.refetch()}
    />
  );
}

type TodoListProps = {
  id: string;
  title: string;
  todos: Todo[] | undefined;
  status: string;
  fetching: boolean;
  error: string | undefined;
  onAdd(title: string): void;
  onToggle(todo: Todo): void;
  onRefresh(): void;
};

function TodoList({ id, title, todos, status, fetching, error, onAdd, onToggle, onRefresh }: TodoListProps) {
  const [draft, setDraft] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!draft.trim()) return;
    onAdd(draft);
    setDraft('');
  };
  return (
    <section id={id} data-status={status} data-fetching={String(fetching)}>
      <h2>
        {title}
        <button className="refresh" title="refetch" onClick={onRefresh}>
          ↻
        </button>
      </h2>
      <form className="add" onSubmit={submit}>
        <input name="title" placeholder="what needs doing?" value={draft} onChange={(e) => setDraft(e.target.value)} />
        <button>Add</button>
      </form>
      {error && <p className="error">{error}</p>}
      <ul>
        {todos?.map((todo) => (
          <li
            key={todo.id}
            data-id={todo.id}
            data-done={String(todo.done)}
            data-pending={String(isPending(todo))}
            onClick={() => !isPending(todo) && onToggle(todo)}
          >
            <span className="title">{todo.title}</span>
            <small>{todo.author}</small>
          </li>
        ))}
      </ul>
    </section>
  );
}
