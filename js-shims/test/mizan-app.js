// A tiny Mizan app on node:http (127.0.0.1) for the client tests: contexts and calls under
// /api/mizan, the call responses' `invalidate`, `merge` and `X-Mizan-Invalidate` computed by
// this package's own Registry (resolveInvalidation / resolveMerges) on a KDL registry. It counts
// requests per path, can fail or hold requests on demand, and serves static files (browser tests).
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { Registry } from '../src/index.js';

export const BASE = '/api/mizan';
export const CSRF = 'csrf-token-123';

export const KDL = `mizan-ir version=1

context todos {
    member todo_list
}

context user {
    member user_profile
}

context stats {
    member stats_summary
}

context board {
    member board_cards
    member board_info
}

function todo_list context=todos output="list<Todo>" {
    input list_id type=integer
}

function user_profile context=user output=User {
    input user_id type=integer
}

function stats_summary context=stats output="map<integer>"

function add_todo output=Todo {
    input list_id type=integer
    input title type=string
    affects todos stats
}

function rename_todo output=Todo {
    input list_id type=integer
    input id type=integer
    input title type=string
    merge todos
    affects stats
}

function retitle_todo output=Todo {
    input list_id type=integer
    input id type=integer
    input title type=string
    merge todos
    affects todos
}

function board_info context=board output=any {
    input board_id type=integer
}

function board_cards context=board output="list<Todo>" {
    input board_id type=integer
}

function move_card output=Todo {
    input board_id type=integer
    input title type=string
    affects board
}

function rename_user output=User {
    input user_id type=integer
    input name type=string
    affects user
}

type Todo {
    field id type=integer
    field title type=string
}

type User {
    field id type=integer
    field name type=string
}
`;

const TYPES = {
  '.js': 'text/javascript; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
};

function seed() {
  return {
    lists: { 1: [{ id: 1, title: 'milk' }], 2: [{ id: 2, title: 'bread' }], 3: [{ id: 3, title: 'eggs' }] },
    users: { 5: { id: 5, name: 'Rana' }, 6: { id: 6, name: 'Sami' } },
    cards: { 1: [{ id: 50, title: 'design' }] },
    nextId: 100,
  };
}

/**
 * `startApp({ staticRoot?, headerOnly?: [fn…] })` → `{url, base, counts(), count(key), reset(),
 * fail(prefix, {status, times, body, drop}), hold(prefix) → release(), db, calls, close()}`.
 * Count keys: `ctx/todos/?list_id=1`, `call/add_todo`, `session/`.
 */
export async function startApp({ staticRoot = null, headerOnly = [] } = {}) {
  const registry = Registry.fromKdl(KDL);
  let db = seed();
  const counts = new Map();
  const faults = [];
  const holds = [];
  const calls = [];
  const headerOnlySet = new Set(headerOnly);

  const functions = {
    todo_list: ({ list_id }) => db.lists[Number(list_id)] ?? [],
    user_profile: ({ user_id }) => db.users[Number(user_id)] ?? { id: Number(user_id), name: `user ${user_id}` },
    stats_summary: () => ({ todos: Object.values(db.lists).reduce((n, l) => n + l.length, 0) }),
    add_todo: ({ list_id, title }) => {
      const todo = { id: db.nextId++, title };
      (db.lists[list_id] ??= []).push(todo);
      return todo;
    },
    rename_todo: ({ list_id, id, title }) => {
      const todo = (db.lists[list_id] ?? []).find((t) => t.id === id);
      if (!todo) throw Object.assign(new Error('No such todo'), { status: 404, code: 'NOT_FOUND' });
      todo.title = title;
      return { ...todo };
    },
    retitle_todo: (args) => functions.rename_todo(args),
    board_info: ({ board_id }) => ({ id: Number(board_id), title: `board ${board_id}` }),
    board_cards: ({ board_id }) => db.cards[Number(board_id)] ?? [],
    move_card: ({ board_id, title }) => {
      const card = { id: db.nextId++, title };
      (db.cards[board_id] ??= []).push(card);
      return card;
    },
    rename_user: ({ user_id, name }) => {
      db.users[user_id] = { id: user_id, name };
      return db.users[user_id];
    },
  };
  const contexts = { todos: ['todo_list'], user: ['user_profile'], stats: ['stats_summary'], board: ['board_cards', 'board_info'] };

  const json = (res, status, body, headers = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
    res.end(JSON.stringify(body));
  };
  const envelope = (code, message, details) => ({ error: details === undefined ? { code, message } : { code, message, details } });

  async function api(req, res, rest, search) {
    let key = rest + search;
    let body = null;
    if (req.method === 'POST') {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return json(res, 400, envelope('BAD_REQUEST', 'Invalid request body'));
      }
      if (rest === 'call/') key = `call/${body?.fn}`;
    }
    counts.set(key, (counts.get(key) ?? 0) + 1);
    const hold = holds.find((h) => key.startsWith(h.prefix));
    if (hold) await hold.promise;
    const fault = faults.find((f) => f.times > 0 && key.startsWith(f.prefix));
    if (fault) {
      fault.times--;
      if (fault.drop) return req.socket.destroy();
      return json(res, fault.status, fault.body ?? envelope(fault.status >= 500 ? 'INTERNAL_ERROR' : 'NOT_FOUND', `injected ${fault.status}`));
    }
    if (rest === 'session/' && req.method === 'GET') return json(res, 200, { csrfToken: CSRF });
    const ctx = /^ctx\/([^/]+)\/$/.exec(rest);
    if (ctx && req.method === 'GET') {
      const name = decodeURIComponent(ctx[1]);
      const members = contexts[name];
      if (!members) return json(res, 404, envelope('NOT_FOUND', `Context '${name}' not found`));
      const params = Object.fromEntries(new URLSearchParams(search));
      const bundle = {};
      for (const m of members) bundle[m] = functions[m](params);
      return json(res, 200, bundle);
    }
    if (rest === 'call/' && req.method === 'POST') {
      calls.push({ fn: body.fn, args: body.args, csrf: req.headers['x-csrftoken'] ?? null });
      if (req.headers['x-csrftoken'] !== CSRF) return json(res, 403, envelope('FORBIDDEN', 'CSRF token missing or incorrect'));
      const f = functions[body.fn];
      if (!f || contexts[body.fn]) return json(res, 404, envelope('NOT_FOUND', 'Function not found'));
      let result;
      try {
        result = f(body.args ?? {});
      } catch (e) {
        return json(res, e.status ?? 500, envelope(e.code ?? 'INTERNAL_ERROR', e.message));
      }
      const { invalidate, header } = registry.resolveInvalidation(body.fn, body.args ?? {});
      const { merge } = registry.resolveMerges(body.fn, body.args ?? {}, result);
      const out = { result };
      if (merge.length) out.merge = merge;
      out.invalidate = headerOnlySet.has(body.fn) ? [] : invalidate;
      return json(res, 200, out, invalidate.length && header ? { 'X-Mizan-Invalidate': header } : {});
    }
    return json(res, 404, envelope('NOT_FOUND', 'Not found'));
  }

  async function serveStatic(req, res, path) {
    if (!staticRoot) return json(res, 404, envelope('NOT_FOUND', 'Not found'));
    const file = normalize(join(staticRoot, path === '/' ? 'index.html' : path));
    if (file !== staticRoot && !file.startsWith(staticRoot + sep)) return res.writeHead(403).end();
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
      res.end(body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const handle = url.pathname.startsWith(`${BASE}/`)
      ? api(req, res, url.pathname.slice(BASE.length + 1), url.search)
      : serveStatic(req, res, decodeURIComponent(url.pathname));
    handle.catch((e) => {
      if (!res.headersSent) json(res, 500, envelope('INTERNAL_ERROR', String(e)));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;

  return {
    url,
    base: url + BASE,
    registry,
    get db() {
      return db;
    },
    calls,
    counts: () => Object.fromEntries(counts),
    count: (key) => counts.get(key) ?? 0,
    /** Data back to the seed, counters to zero, no faults or holds. */
    reset() {
      db = seed();
      counts.clear();
      faults.length = 0;
      for (const h of holds.splice(0)) h.release();
      calls.length = 0;
    },
    fail(prefix, { status = 500, times = 1, body, drop = false } = {}) {
      faults.push({ prefix, status, times, body, drop });
    },
    hold(prefix) {
      let release;
      const promise = new Promise((r) => (release = r));
      const h = { prefix, promise, release: () => release() };
      holds.push(h);
      return () => {
        const i = holds.indexOf(h);
        if (i >= 0) holds.splice(i, 1);
        h.release();
      };
    },
    close() {
      for (const h of holds.splice(0)) h.release();
      server.closeAllConnections?.();
      return new Promise((r) => server.close(r));
    },
  };
}
