// Uses of the client generated for tests/fixtures/ir/parity.kdl (checked like usage/shop.ts):
// the string enum is a union of its values (and a list of them), nested records and maps are
// typed, and what the server would refuse does not compile.
import type { MizanClient } from '@mizan/kernel-wasm/client';
import * as api from './mizan.js';
import * as react from './react.js';

declare const client: MizanClient;

export async function enums(): Promise<void> {
  const all: readonly api.OrderStatus[] = api.OrderStatus;
  const first: 'pending' = api.OrderStatus[0];
  const order = await api.callSetOrderStatus({ order_id: 1, status: 'shipped' }, { client });
  const status: api.OrderStatus = order.status;
  const city: string | undefined = order.shipping?.city;
  const total: number | undefined = order.totals['gross'];
  // @ts-expect-error not a value of OrderStatus
  await api.callSetOrderStatus({ order_id: 1, status: 'lost' });
  const mine = await api.fetchUser({ user_id: 5, status: 'paid' });
  const statuses: api.OrderStatus[] = mine.user_orders.map((o) => o.status);
  await api.fetchUser({ user_id: 5, status: null });
  // @ts-expect-error not a value of OrderStatus
  await api.fetchUser({ user_id: 5, status: 'PAID' });
  await api.callPlaceOrder({ user_id: 5, lines: [{ product_id: 1, quantity: 2 }], note: null });
  // @ts-expect-error a line needs its quantity
  await api.callPlaceOrder({ user_id: 5, lines: [{ product_id: 1 }] });
  const count: number = await api.callReindexCatalog();
  // @ts-expect-error payment_webhook is private
  api.callPaymentWebhook;
  void [all, first, status, city, total, statuses, count];
}

export function hooks(): void {
  const settings = react.useGlobal().data?.site_settings;
  const currency: string | undefined = settings?.currency;
  const orders = react.useOrders({ order_id: 7, page: 2 });
  const detail: api.Order | undefined = orders.data?.order_detail;
  const set = react.useSetOrderStatusMutation();
  void set.mutate({ order_id: 7, status: 'delivered' });
  // @ts-expect-error not a value of OrderStatus
  void set.mutate({ order_id: 7, status: 'gone' });
  void [currency, detail];
}
