// The Vue page of test/frameworks.browser.test.js (render functions, no SFC compiler needed).
import { createApp, h } from 'vue';
import { createClient, httpTransport } from '@mizan/kernel-wasm/client';
import { mizanPlugin, useMizanContext, useMutation } from '@mizan/kernel-wasm/vue';

const client = createClient({ transport: httpTransport({ baseUrl: '/api/mizan' }), staleTime: 60_000 });
client.start();
window.__renders = {};
const rendered = (name) => (window.__renders[name] = (window.__renders[name] ?? 0) + 1);

const TodoList = {
  props: { listId: Number },
  setup(props) {
    const { data, isLoading, isFetching } = useMizanContext('todos', () => ({ list_id: props.listId }));
    return () => {
      rendered(`list-${props.listId}`);
      if (isLoading.value) return h('p', { id: `list-${props.listId}` }, 'loading');
      return h(
        'ul',
        { id: `list-${props.listId}`, 'data-fetching': String(isFetching.value) },
        data.value.todo_list.map((t) => h('li', { key: t.id }, t.title)),
      );
    };
  },
};

const User = {
  setup() {
    const { data } = useMizanContext('user', { user_id: 5 });
    return () => {
      rendered('user');
      return h('p', { id: 'user' }, data.value ? data.value.user_profile.name : 'loading');
    };
  },
};

const AddButton = {
  setup() {
    const { mutate, isPending } = useMutation('add_todo');
    return () =>
      h('button', { id: 'add', disabled: isPending.value, onClick: () => mutate({ list_id: 2, title: 'jam' }) }, isPending.value ? 'adding' : 'add jam to list 2');
  },
};

const App = {
  setup() {
    return () => h('div', [h(TodoList, { listId: 1 }), h(TodoList, { listId: 2 }), h(TodoList, { listId: 3 }), h(User), h(AddButton)]);
  },
};

createApp(App).use(mizanPlugin(client)).mount('#root');
