//! A short walkthrough of the Rust host: `cargo run -p mizan-host --example demo`.

use mizan_host::{Kernel, Registry};
use serde_json::json;

const REGISTRY: &str = r#"
mizan-ir version=1

context user {
    member user_profile
    member user_orders
}

context catalog shared=#true

function user_profile context=user output=UserShape {
    input user_id type=integer
}

function user_orders context=user output="list<any>" cache=60 {
    input user_id type=integer
    input page type=integer required=#false
}

function catalog_list context=catalog output="list<any>" cache=3600

function update_profile output=UserShape auth=required {
    input user_id type=integer
    input name type=string
    affects user catalog
}

type UserShape {
    field id type=integer
    field name type=string
}
"#;

fn main() -> Result<(), mizan_host::Error> {
    let kernel = Kernel::new()?;
    let a = kernel.artifact();
    println!("component: {:?} in {:?} ({})", a.source, a.load_time, a.path.as_ref().map_or("no cache file".into(), |p| p.display().to_string()));

    // 1. An origin-cache key (the same under every host), then the same key through a Keyer.
    let secret = "test-pin-secret-that-is-32bytes!";
    let key = kernel.derive_cache_key(secret, "user", &json!({"user_id": 5}), None, 0)?;
    println!("\n1. cache key of user(user_id=5): {key}");
    let keyer = kernel.keyer(secret)?;
    let entry = keyer.index_entry("user", &json!({"user_id": "5"}), Some(&json!(5)), 0)?;
    println!("   user-scoped entry {} sits in {} index sets", entry.key, entry.index_keys.len());

    // 2. The X-Mizan-Invalidate header, formatted and parsed back.
    let entries = json!(["notifications", {"context": "user", "params": {"user_id": 5, "tab": "a b"}}]);
    let header = kernel.format_invalidate_header(&entries)?;
    println!("\n2. header for {entries}:\n   {header}");
    println!("   parsed back: {}", kernel.parse_invalidate_header(&header)?);
    if let Err(e) = kernel.parse_invalidate_header("user;k=%zz") {
        println!("   a bad header: {e} (details {})", e.as_kernel().and_then(|k| k.details.clone()).unwrap_or_default());
    }

    // 3. An invalidation resolved against a small KDL registry.
    let registry = Registry::from_kdl(&kernel, REGISTRY)?;
    let inv = registry.resolve_invalidation("update_profile", &json!({"user_id": 5, "name": "Ada"}), None)?;
    println!("\n3. update_profile(user_id=5) invalidates {}", inv.entries);
    println!("   X-Mizan-Invalidate: {}", inv.header.as_deref().unwrap_or("(over the header limits)"));
    let policy = registry.context_policy("user")?;
    println!("   context `user`: rev {}, cacheable {}, ttl {:?}", policy.rev, policy.cacheable, policy.ttl_seconds);
    let plan = keyer.purge_plan(&inv.entries)?;
    println!("   purge plan: {} scope(s), first base {}", plan.scopes.len(), plan.scopes[0].base);
    Ok(())
}
