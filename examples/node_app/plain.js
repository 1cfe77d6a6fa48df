// `/plain/call/` and `/plain/ctx/items/`: what the Mizan endpoints do for the benchmark's
// requests, written as an ordinary node:http app would (parse the body or the query, call the same
// code, JSON out with `Cache-Control: no-store`). For the wrk comparison only (docs/PERFORMANCE.md).
import { functions } from './functions.js';

const itemCount = functions.functions.get('item_count').fn;
const itemsList = functions.functions.get('items_list').fn;
const ctx = { identity: null, user: null, request: null, app: null };
const headers = { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' };

function send(res, status, body) {
  res.writeHead(status, { ...headers, 'Content-Length': Buffer.byteLength(body) }).end(body);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks).toString())).on('error', reject);
  });
}

/** Serve `/plain/…`; false when the path is not one of them. */
export function plainRoute(req, res) {
  const [path, query = ''] = (req.url ?? '/').split('?');
  if (path === '/plain/call/' && req.method === 'POST') {
    readBody(req).then((text) => {
      let call;
      try {
        call = JSON.parse(text);
      } catch {
        return send(res, 400, '"bad body"');
      }
      if (call?.fn !== 'item_count') return send(res, 404, '"only item_count"');
      send(res, 200, JSON.stringify({ result: itemCount(ctx, call.args ?? {}), invalidate: [] }));
    });
    return true;
  }
  if (path === '/plain/ctx/items/' && req.method === 'GET') {
    const params = new URLSearchParams(query);
    const page = params.has('page') ? Number.parseInt(params.get('page'), 10) : null;
    const category = params.get('category') ?? undefined;
    send(res, 200, JSON.stringify({ item_count: itemCount(ctx, {}), items_list: itemsList(ctx, { page, category }) }));
    return true;
  }
  return false;
}
