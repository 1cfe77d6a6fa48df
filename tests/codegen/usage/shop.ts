// Uses of the client generated for tests/fixtures/ir/shop.kdl, type-checked (tsc --strict) beside
// the golden files: right uses compile, and every `@ts-expect-error` line must fail to compile, so
// the generated types are proven to reject what the server would refuse.
import type { MizanClient } from '@mizan/kernel-wasm/client';
import * as api from './mizan.js';
import * as react from './react.js';
import * as svelte from './svelte.js';
import * as vue from './vue.js';

declare const client: MizanClient;

export async function stage1(): Promise<void> {
  const bundle: api.UserBundle = await api.fetchUser({ user_id: 5 }, client);
  const name: string = bundle.user_profile.name;
  const email: string | null | undefined = bundle.user_profile.email;
  const totals: number[] = bundle.user_orders.map((o) => o.total);
  await api.fetchUser({ user_id: 5, page: 2 });
  // @ts-expect-error user_id is required
  await api.fetchUser({});
  // @ts-expect-error user_id is an integer
  await api.fetchUser({ user_id: '5' });
  // @ts-expect-error no such param
  await api.fetchUser({ user_id: 5, pages: 2 });
  const items: api.ItemOutput[] = (await api.fetchItems()).items_list;
  const categories: string[] = (await api.fetchCatalog({}, client)).catalog_categories;
  const updated: api.UserShape = await api.callUpdateProfile({ user_id: 5, name: 'R' });
  // @ts-expect-error name is required
  await api.callUpdateProfile({ user_id: 5 });
  const renamed: api.ItemOutput = await api.callSetItemName({ id: 1, name: 'x' }, { client, optimistic: [] });
  const sent: { [key: string]: string } = await api.callContactSubmit({ message: 'hi' });
  // @ts-expect-error stripe_webhook is private: no client for it
  api.callStripeWebhook;
  void [name, email, totals, items, categories, updated, renamed, sent];
}

export function reactHooks(): void {
  const user = react.useUser({ user_id: 5 }, { enabled: true });
  const name: string | undefined = user.data?.user_profile.name;
  const me: api.UserShape | undefined = react.useGlobal().data?.current_user;
  const update = react.useUpdateProfileMutation({ onSuccess: (r) => void r.name });
  void update.mutate({ user_id: 5, name: 'R' });
  // @ts-expect-error the mutation's args are typed
  void update.mutate({ user_id: 5 });
  const result: api.UserShape | undefined = update.data;
  const root = react.MizanContext({ client, children: null });
  void [name, me, result, root];
}

export function vueComposables(): void {
  const user = vue.useUser(() => ({ user_id: 5 }));
  const name: string | undefined = user.data.value?.user_profile.name;
  const update = vue.useRenameUserMutation({ client });
  void update.mutateAsync({ user_id: 5, name: 'R' });
  // @ts-expect-error the mutation's args are typed
  void update.mutateAsync({ name: 'R' });
  void [name, vue.MizanContext];
}

export function svelteStores(): void {
  const user = svelte.useUser({ user_id: 5 }, client);
  user.subscribe((v) => void v.data?.user_orders.length);
  const items = svelte.useItems({ page: 1, category: 'books' }, client);
  // @ts-expect-error page is an integer
  svelte.useItems({ page: 'one' }, client);
  const update = svelte.useSetItemNameMutation(undefined, client);
  void update.mutate({ id: 1, name: 'x' });
  void [items, svelte.setMizanContext];
}
