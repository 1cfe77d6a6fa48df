//! The edge manifest (KERNEL.md §9): what an edge needs to cache and purge context bundles.
//! Every list is sorted and object keys are in alphabetical order, so the output is
//! byte-identical across runs and hosts (the seed left `affects`, `functions` and `page_routes`
//! in set or registration order).

use crate::canon::sort_utf16;
use crate::ir::{CacheSetting, Registry};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

impl Registry {
    /// `view_urls` adds page routes per context (routes the host serves outside Mizan).
    pub fn manifest(&self, base_url: &str, view_urls: &BTreeMap<String, Vec<String>>) -> Value {
        let base = base_url.trim_end_matches('/');
        let mut contexts = Map::new();
        for c in self.contexts_sorted() {
            let mut functions = Vec::new();
            let mut page_routes: Vec<String> = view_urls.get(&c.name).cloned().unwrap_or_default();
            for f in self.members(&c.name) {
                let mut entry = Map::new();
                entry.insert("name".into(), json!(f.name));
                entry.insert("path".into(), json!(if f.view { "view" } else { "rpc" }));
                if let Some(route) = &f.route {
                    entry.insert("route".into(), json!(route));
                    entry.insert("methods".into(), json!(methods_or(&f.methods, "GET")));
                    page_routes.push(route.clone());
                }
                if f.rev != 0 {
                    entry.insert("rev".into(), json!(f.rev));
                }
                match f.cache {
                    Some(CacheSetting::Never) => {
                        entry.insert("cache".into(), json!(false));
                    }
                    Some(CacheSetting::Ttl(t)) => {
                        entry.insert("cache".into(), json!(t));
                    }
                    None => {}
                }
                functions.push(Value::Object(entry));
            }
            sort_utf16(&mut page_routes);
            page_routes.dedup();
            let user_scoped = self.is_user_scoped(&c.name);
            contexts.insert(
                c.name.clone(),
                json!({
                    "endpoints": [format!("{base}/ctx/{}/", c.name)],
                    "functions": functions,
                    "page_routes": page_routes,
                    "params": self.declared_params(&c.name),
                    "render_strategy": if user_scoped { "dynamic_cached" } else { "psr" },
                    "shared": c.shared,
                    "user_scoped": user_scoped,
                }),
            );
        }
        let mut mutations = Map::new();
        for f in self.functions_sorted().into_iter().filter(|f| !f.affects.is_empty()) {
            let mut affects: Vec<String> = Vec::new();
            let mut scoping: Vec<String> = Vec::new();
            for target in &f.affects {
                let (context, declared) = match self.function(target) {
                    Some(g) => (g.context.clone().unwrap_or_default(), g.inputs.iter().map(|i| i.name.clone()).collect()),
                    None => (target.clone(), self.declared_params(target)),
                };
                affects.push(context);
                scoping.extend(declared);
            }
            sort_utf16(&mut affects);
            affects.dedup();
            let mut auto_scoped: Vec<String> =
                f.inputs.iter().filter(|i| scoping.contains(&i.name)).map(|i| i.name.clone()).collect();
            sort_utf16(&mut auto_scoped);
            let mut entry = Map::new();
            entry.insert("affects".into(), json!(affects));
            entry.insert("auto_scoped_params".into(), json!(auto_scoped));
            if f.private {
                entry.insert("private".into(), json!(true));
            }
            if let Some(route) = &f.route {
                entry.insert("route".into(), json!(route));
                entry.insert("methods".into(), json!(methods_or(&f.methods, "POST")));
            }
            mutations.insert(f.name.clone(), Value::Object(entry));
        }
        json!({"contexts": contexts, "mutations": mutations, "version": 1})
    }
}

fn methods_or(methods: &[String], default: &str) -> Vec<String> {
    let mut m: Vec<String> = if methods.is_empty() { vec![default.to_string()] } else { methods.to_vec() };
    sort_utf16(&mut m);
    m.dedup();
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_is_sorted_and_stable() {
        let r = Registry::from_json(
            r#"{"functions":{
                "z_page":{"context":"user","view":true,"route":"/z/","inputs":{"user_id":"integer"}},
                "user_profile":{"context":"user","inputs":{"user_id":"integer"},"rev":2,"cache":60},
                "catalog_list":{"context":"catalog","cache":false},
                "update":{"inputs":{"user_id":"integer","name":"string"},"affects":["z_page","catalog","user"]},
                "hook":{"private":true,"route":"/webhooks/stripe/","methods":["POST"],"affects":["catalog"]}
            }}"#,
        )
        .unwrap();
        let views = BTreeMap::from([("user".to_string(), vec!["/a/".to_string(), "/z/".to_string()])]);
        let m = r.manifest("/api/mizan/", &views);
        assert_eq!(m["contexts"]["user"]["page_routes"], json!(["/a/", "/z/"]));
        assert_eq!(m["contexts"]["user"]["render_strategy"], json!("dynamic_cached"));
        assert_eq!(m["contexts"]["catalog"]["render_strategy"], json!("psr"));
        assert_eq!(m["contexts"]["user"]["endpoints"], json!(["/api/mizan/ctx/user/"]));
        assert_eq!(
            m["contexts"]["user"]["functions"],
            json!([{"name": "user_profile", "path": "rpc", "rev": 2, "cache": 60},
                   {"name": "z_page", "path": "view", "route": "/z/", "methods": ["GET"]}])
        );
        assert_eq!(m["mutations"]["update"], json!({"affects": ["catalog", "user"], "auto_scoped_params": ["user_id"]}));
        assert_eq!(
            m["mutations"]["hook"],
            json!({"affects": ["catalog"], "auto_scoped_params": [], "private": true, "route": "/webhooks/stripe/", "methods": ["POST"]})
        );
        let text = crate::canon::canonical_json(&m);
        assert_eq!(text, crate::canon::canonical_json(&r.clone().manifest("/api/mizan/", &views)));
    }
}
