// Origin-cache stores behind one async interface (docs/SERVER.md "Redis"): `lookup(key)` → the
// body (null: a miss) and a ticket; `put(cachePut, ticket)` stores unless a purge of its sets
// started after the ticket or its bound set is full; `purge(plan)` deletes what the plan matches,
// in bounded steps. Keys, index keys, TTLs, bounds and plans all come from the engine; a store
// never derives or matches anything itself: the in-memory store is the kernel's own, the Redis
// one runs the kernel's two Lua scripts.
import { OriginStore, redisPlanJson, redisPurgeScript, redisPutScript } from '../server.js';

/** The kernel's in-memory origin store (one per process): entries, index sets, LRU bounds. */
export class MemoryOriginStore {
  /** Bounds on entries and bytes; 0 takes the default (10 000 entries, 64 MiB). */
  constructor({ maxEntries = 0, maxBytes = 0 } = {}) {
    this.store = new OriginStore(maxEntries, maxBytes);
  }

  async lookup(key) {
    return this.store.lookup(key, Date.now());
  }

  async put(cachePut, ticket) {
    return this.store.putEntry(cachePut, ticket ?? null, Date.now());
  }

  /** In steps of 256 set members, each one kernel call: other requests use the store between them. */
  async purge(plan) {
    const purged = [];
    let cursor = null;
    do {
      const step = this.store.purgeStep(plan, cursor, 0);
      purged.push(...step.purged);
      cursor = step.cursor;
      if (cursor !== null) await new Promise((resolve) => setTimeout(resolve, 0)); // let other requests in (every runtime has setTimeout)
    } while (cursor !== null);
    return [...new Set(purged)].sort();
  }
}

/**
 * The distributed origin store on Redis, with node-redis (`redis`, an optional peer dependency).
 * The kernel's two Lua scripts are loaded with SCRIPT LOAD and run with EVALSHA; a NOSCRIPT reply
 * (a restarted or flushed server) loads the script again and retries once. `prefix` namespaces
 * every key (on Redis Cluster a hash tag such as `{mizan}:`). The key layout is docs/SERVER.md's.
 */
export class RedisOriginStore {
  /** Over a connected node-redis client; call `load()` (or use `RedisOriginStore.connect`). */
  constructor(client, { prefix = 'mizan:' } = {}) {
    this.client = client;
    this.prefix = prefix;
    this.scripts = { put: { text: redisPutScript(), sha: '' }, purge: { text: redisPurgeScript(), sha: '' } };
  }

  /** Connect to `url` (`redis://host:port/db`) with node-redis and load the scripts. */
  static async connect(url, { prefix = 'mizan:', clientOptions = {} } = {}) {
    let redis;
    try {
      redis = await import('redis');
    } catch {
      throw new Error('RedisOriginStore needs the `redis` package: npm install redis');
    }
    const client = redis.createClient({ url, ...clientOptions });
    client.on('error', (e) => console.error(`mizan: redis: ${e.message}`)); // node-redis reconnects by itself
    try {
      await client.connect();
    } catch (e) {
      client.destroy?.(); // no reconnecting client left behind
      throw e;
    }
    const store = new RedisOriginStore(client, { prefix });
    await store.load();
    return store;
  }

  /** SCRIPT LOAD both scripts. */
  async load() {
    for (const script of Object.values(this.scripts)) script.sha = await this.client.sendCommand(['SCRIPT', 'LOAD', script.text]);
    return this;
  }

  /** Close the client (node-redis 5+ `close`, else `quit`). */
  async close() {
    await (typeof this.client.close === 'function' ? this.client.close() : this.client.quit());
  }

  async #evalsha(script, args) {
    const run = () => this.client.sendCommand(['EVALSHA', script.sha, '0', ...args]);
    try {
      return await run();
    } catch (e) {
      if (!String(e?.message).startsWith('NOSCRIPT')) throw e;
      script.sha = await this.client.sendCommand(['SCRIPT', 'LOAD', script.text]);
      return run();
    }
  }

  /** `MGET key {prefix}purges`: the body and the ticket. */
  async lookup(key) {
    const [body, purges] = await this.client.sendCommand(['MGET', this.prefix + key, `${this.prefix}purges`]);
    return { body: body ?? null, ticket: purges ? Number(purges) : 0 };
  }

  async put(cachePut, ticket) {
    const bound = cachePut.bound;
    const args = [
      this.prefix, cachePut.key, cachePut.body, String(cachePut.ttlSeconds), ticket === null || ticket === undefined ? '' : String(ticket),
      bound ? bound.set : '', bound ? String(bound.maxEntries) : '0', ...cachePut.indexKeys,
    ];
    return Number(await this.#evalsha(this.scripts.put, args)) === 1;
  }

  /** The purge script in bounded steps (`cursor` until empty), so a huge context never blocks Redis for long. */
  async purge(plan) {
    if (plan.scopes.length === 0) return [];
    const planJson = redisPlanJson(plan);
    const purged = [];
    let cursor = '';
    do {
      const [next, keys] = await this.#evalsha(this.scripts.purge, [planJson, this.prefix, cursor]);
      purged.push(...keys);
      cursor = next;
    } while (cursor !== '');
    return [...new Set(purged)].sort();
  }
}
