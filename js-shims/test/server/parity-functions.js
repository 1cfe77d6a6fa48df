// The parity fixture (tests/fixtures/ir/parity.kdl, described in tests/fixtures/ir/README.md)
// declared with defineFunctions: its KDL must be that file byte for byte, as Python's `@client`
// and Rust's `#[client]` registrations are. The functions are small but real: an in-memory shop.
import { defineFunctions, NotFound } from '../../src/server/index.js';

export const functions = defineFunctions();
const f = functions;

f.enum('OrderStatus', ['pending', 'paid', 'shipped', 'delivered', 'cancelled']);
f.type('SiteSettings', { currency: 'str', maintenance: 'bool', features: 'map<bool>' });
f.type('Address', { street: 'str', city: 'str', postcode: 'optional<str>' });
f.type('UserProfile', { id: 'int', name: 'str', email: 'optional<str>', address: 'Address', tags: 'list<str>' });
f.type('OrderLine', { product_id: 'int', quantity: 'int', unit_price: 'float' });
f.type('OrderLineInput', { product_id: 'int', quantity: 'int' });
f.type('Order', {
  id: 'int', status: 'OrderStatus', lines: 'list<OrderLine>', totals: 'map<float>', shipping: 'optional<Address>', placed_at: 'str',
});
f.type('OrderSummary', { id: 'int', status: 'OrderStatus', total: 'float' });
f.type('Product', { id: 'int', name: 'str', price: 'float', category: 'str', attributes: 'map<str>' });
f.context('catalog', { shared: true });

const products = [
  { id: 1, name: 'tea', price: 4.0, category: 'drinks', attributes: { origin: 'Assam' } },
  { id: 2, name: 'mug', price: 9.5, category: 'kitchen', attributes: { colour: 'blue' } },
];
const profiles = new Map([[1, { id: 1, name: 'Rana', email: null, address: { street: '1 High St', city: 'Leeds', postcode: null }, tags: ['early'] }]]);
const orders = new Map();

const order = (id) => {
  if (!orders.has(id)) throw new NotFound('No such order');
  return orders.get(id);
};
const summary = (o) => ({ id: o.id, status: o.status, total: o.totals.total });
const profile = (id) => {
  if (!profiles.has(id)) throw new NotFound('No such user');
  return profiles.get(id);
};

f.client({ name: 'site_settings', context: 'global', cache: 300, returns: 'SiteSettings' }, () => ({
  currency: 'GBP', maintenance: false, features: { reviews: true },
}));
const userProfile = f.client({ name: 'user_profile', context: 'user', auth: true, params: { user_id: 'int' }, returns: 'UserProfile' },
  (_ctx, { user_id }) => profile(user_id));
f.client({ name: 'user_orders', context: 'user', auth: true, params: { user_id: 'int', status: 'optional<OrderStatus>' }, returns: 'list<OrderSummary>' },
  (_ctx, { status }) => [...orders.values()].filter((o) => status == null || o.status === status).map(summary));
f.client({ name: 'user_addresses', context: 'user', auth: true, rev: 2, params: { user_id: 'int' }, returns: 'list<Address>' },
  (_ctx, { user_id }) => (profiles.has(user_id) ? [profiles.get(user_id).address] : []));
f.client({ name: 'catalog_products', context: 'catalog', cache: 3600, params: { category: 'optional<str>' }, returns: 'list<Product>' },
  (_ctx, { category }) => products.filter((p) => category == null || p.category === category));
f.client({ name: 'catalog_categories', context: 'catalog', cache: 3600, returns: 'list<str>' },
  () => [...new Set(products.map((p) => p.category))].sort());
f.client({ name: 'order_detail', context: 'orders', auth: true, cache: false, params: { order_id: 'int' }, returns: 'Order' },
  (_ctx, { order_id }) => order(order_id));
f.client({ name: 'order_list', context: 'orders', auth: 'staff', params: { page: 'int?' }, returns: 'list<OrderSummary>' },
  (_ctx, { page = 1 }) => [...orders.values()].slice((page - 1) * 20, page * 20).map(summary));

f.client({ name: 'update_profile', affects: ['user'], merge: ['user'], auth: true,
  params: { user_id: 'int', name: 'str', email: 'optional<str>' }, returns: 'UserProfile' },
(_ctx, { user_id, name, email = null }) => {
  const updated = { ...profile(user_id), name, email };
  profiles.set(user_id, updated);
  return updated;
});
f.client({ name: 'upload_avatar', affects: [userProfile], auth: true, params: { user_id: 'int', image: 'upload' }, returns: 'UserProfile' },
  (_ctx, { user_id }) => profile(user_id));
f.client({ name: 'place_order', affects: ['orders', 'user_orders'], merge: ['orders'], auth: true,
  params: { user_id: 'int', lines: 'list<OrderLineInput>', note: 'optional<str>' }, returns: 'Order' },
(_ctx, { lines }) => {
  const priced = lines.map((l) => ({ ...l, unit_price: products.find((p) => p.id === l.product_id)?.price ?? 0 }));
  const total = priced.reduce((sum, l) => sum + l.unit_price * l.quantity, 0);
  const o = { id: orders.size + 1, status: 'pending', lines: priced, totals: { total }, shipping: null, placed_at: new Date().toISOString() };
  orders.set(o.id, o);
  return o;
});
f.client({ name: 'set_order_status', affects: 'orders', merge: 'orders', auth: 'staff', params: { order_id: 'int', status: 'OrderStatus' }, returns: 'Order' },
  (_ctx, { order_id, status }) => Object.assign(order(order_id), { status }));
f.client({ name: 'refund_order', affects: 'orders', auth: function can_refund(identity) { return Boolean(identity?.staff); },
  params: { order_id: 'int', amount: 'float' }, returns: 'Order' },
(_ctx, { order_id }) => Object.assign(order(order_id), { status: 'cancelled' }));
f.client({ name: 'reindex_catalog', affects: 'catalog', auth: 'superuser', params: { full: 'bool?' }, returns: 'int' },
  () => products.length);
f.client({ name: 'payment_webhook', private: true, affects: ['orders', 'user_orders'], params: { payload: 'map<any>' }, returns: 'null' },
  () => undefined);
