//! [`RedisOriginStore`]: the distributed origin cache (feature `redis`; docs/SERVER.md "Redis").
//!
//! The `redis` crate on tokio, one multiplexed [`ConnectionManager`] (reconnects by itself).
//! The kernel's two Lua scripts are loaded with `SCRIPT LOAD` when the store is created and run
//! with `EVALSHA`; a `NOSCRIPT` reply (the server was restarted, flushed its scripts or failed
//! over) loads the script again and retries once. `prefix` namespaces every key.
//!
//! | key | type | holds | TTL |
//! |---|---|---|---|
//! | `{prefix}ctx:{context}:{hex}` | string | the response body | the entry's |
//! | `{prefix}ctx:{context}:{hex}:idx` | set | the entry's index keys (the companion) | the entry's |
//! | `{prefix}idx:…` | set | entry keys of a context / param / (param, value) / user / the public ones | ≥ its longest-lived member |
//! | `{prefix}purges`, `{prefix}mark:{set}` | counters | purges started; the latest that marked a set | none; a day |
//!
//! A read is `MGET key {prefix}purges` (the body and the ticket); a purge runs the script in
//! bounded steps (`cursor` until empty), so a purge of a huge context never blocks Redis for long.

use redis::aio::ConnectionManager;

use crate::error::{Error, Result};
use crate::kernel::Kernel;
use crate::keyer::PurgePlan;
use crate::origin::{BoxFuture, OriginCache};
use crate::server::{CachePut, Lookup};

/// The Redis origin store. `Clone` (the connection is multiplexed), `Send + Sync`.
#[derive(Clone)]
pub struct RedisOriginStore {
    kernel: Kernel,
    conn: ConnectionManager,
    prefix: String,
    put: Script,
    purge: Script,
}

#[derive(Clone)]
struct Script {
    text: String,
    sha: String,
}

fn redis_error(what: &str, e: redis::RedisError) -> Error {
    Error::Cache(format!("redis {what}: {e}"))
}

impl RedisOriginStore {
    /// Connect to `url` (`redis://host:port/db`, `rediss://…`, `unix://…`) and load the scripts.
    pub async fn connect(kernel: &Kernel, url: &str, prefix: &str) -> Result<RedisOriginStore> {
        let client = redis::Client::open(url).map_err(|e| redis_error("url", e))?;
        let conn = ConnectionManager::new(client).await.map_err(|e| redis_error("connect", e))?;
        Self::with_connection(kernel, conn, prefix).await
    }

    /// Over a connection the app already has; loads the scripts.
    pub async fn with_connection(kernel: &Kernel, conn: ConnectionManager, prefix: &str) -> Result<RedisOriginStore> {
        let mut store = RedisOriginStore {
            kernel: kernel.clone(),
            conn,
            prefix: prefix.to_string(),
            put: Script { text: kernel.redis_put_script()?, sha: String::new() },
            purge: Script { text: kernel.redis_purge_script()?, sha: String::new() },
        };
        store.put.sha = store.load(&store.put.text).await?;
        store.purge.sha = store.load(&store.purge.text).await?;
        Ok(store)
    }

    /// The key prefix (`"mizan:"`; on Redis Cluster a hash tag such as `"{mizan}:"`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The connection, for the app's own commands.
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    async fn load(&self, script: &str) -> Result<String> {
        let mut conn = self.conn.clone();
        redis::cmd("SCRIPT").arg("LOAD").arg(script).query_async(&mut conn).await.map_err(|e| redis_error("SCRIPT LOAD", e))
    }

    /// `EVALSHA sha 0 args…`; on `NOSCRIPT`, `SCRIPT LOAD` and once more.
    async fn evalsha<T: redis::FromRedisValue>(&self, script: &Script, args: &[&[u8]]) -> Result<T> {
        let mut conn = self.conn.clone();
        let run = |sha: &str| {
            let mut cmd = redis::cmd("EVALSHA");
            cmd.arg(sha).arg(0);
            for a in args {
                cmd.arg(*a);
            }
            cmd
        };
        match run(&script.sha).query_async(&mut conn).await {
            Err(e) if e.kind() == redis::ErrorKind::NoScriptError => {
                let sha = self.load(&script.text).await?;
                run(&sha).query_async(&mut conn).await.map_err(|e| redis_error("EVALSHA", e))
            }
            other => other.map_err(|e| redis_error("EVALSHA", e)),
        }
    }

    async fn get_entry(&self, key: &str) -> Result<Lookup> {
        let mut conn = self.conn.clone();
        let (body, ticket): (Option<String>, Option<String>) = redis::cmd("MGET")
            .arg(format!("{}{key}", self.prefix))
            .arg(format!("{}purges", self.prefix))
            .query_async(&mut conn)
            .await
            .map_err(|e| redis_error("MGET", e))?;
        Ok(Lookup { body, ticket: ticket.and_then(|t| t.parse().ok()).unwrap_or(0) })
    }

    async fn put_entry(&self, put: &CachePut, ticket: Option<u64>) -> Result<bool> {
        let ttl = put.ttl_seconds.to_string();
        let ticket = ticket.map(|t| t.to_string()).unwrap_or_default();
        let (set, max) = put.bound.as_ref().map_or((String::new(), "0".to_string()), |b| (b.set.clone(), b.max_entries.to_string()));
        let mut args: Vec<&[u8]> = vec![
            self.prefix.as_bytes(),
            put.key.as_bytes(),
            put.body.as_bytes(),
            ttl.as_bytes(),
            ticket.as_bytes(),
            set.as_bytes(),
            max.as_bytes(),
        ];
        args.extend(put.index_keys.iter().map(|k| k.as_bytes()));
        let stored: i64 = self.evalsha(&self.put, &args).await?;
        Ok(stored == 1)
    }

    async fn purge_plan(&self, plan: &PurgePlan) -> Result<Vec<String>> {
        if plan.scopes.is_empty() {
            return Ok(Vec::new());
        }
        let plan_json = self.kernel.redis_plan_json(plan)?;
        let (mut cursor, mut purged) = (String::new(), Vec::new());
        loop {
            let (next, mut keys): (String, Vec<String>) =
                self.evalsha(&self.purge, &[plan_json.as_bytes(), self.prefix.as_bytes(), cursor.as_bytes()]).await?;
            purged.append(&mut keys);
            if next.is_empty() {
                break;
            }
            cursor = next;
        }
        purged.sort();
        purged.dedup();
        Ok(purged)
    }
}

impl OriginCache for RedisOriginStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Lookup>> {
        Box::pin(self.get_entry(key))
    }

    fn put<'a>(&'a self, put: &'a CachePut, ticket: Option<u64>) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.put_entry(put, ticket))
    }

    fn purge<'a>(&'a self, plan: &'a PurgePlan) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(self.purge_plan(plan))
    }
}

impl std::fmt::Debug for RedisOriginStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOriginStore").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}
