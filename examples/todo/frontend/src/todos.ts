// What the React and Vue pages share: the optimistic entries of the mutations. An optimistic
// entry is a merge entry applied to the cache at once and rolled back exactly if the call fails;
// on success the server's merge and its invalidation (a refetch of the list) replace it.
import type { MergeEntry } from '@mizan/kernel-wasm';
import type { Todo } from './api/mizan.js';

let placeholders = 0;

/** A todo that the server has not stored yet: a negative id, shown as pending. */
export function placeholder(title: string, author: string): Todo {
  placeholders += 1;
  return { id: -placeholders, title: title.trim(), done: false, author };
}

export const isPending = (todo: Todo): boolean => todo.id < 0;

/** `add_todo` / `add_shared_todo`: the new todo appended to the list (the slot upserts by id). */
export function optimisticAdd(context: 'todos' | 'shared', author: string, title: string): MergeEntry[] {
  const slot = context === 'todos' ? 'my_todos' : 'shared_todos';
  return [{ context, slot, value: placeholder(title, author) }];
}

/** `toggle_todo` / `toggle_shared_todo`: the todo, flipped, in place. */
export function optimisticToggle(context: 'todos' | 'shared', todo: Todo): MergeEntry[] {
  const slot = context === 'todos' ? 'my_todos' : 'shared_todos';
  return [{ context, slot, value: { ...todo, done: !todo.done } }];
}
