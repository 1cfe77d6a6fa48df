//! `/plain/call/` and `/plain/ctx/items/`: what the Mizan endpoints do for the bench's requests,
//! written as an ordinary Axum app would (parse the body or query, call the same code, JSON out
//! with `Cache-Control: no-store`). For the wrk comparison only (docs/PERFORMANCE.md).

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::data::State;

#[derive(Deserialize)]
struct CallBody {
    #[serde(rename = "fn")]
    function: String,
    #[serde(default)]
    #[allow(dead_code)]
    args: serde_json::Map<String, Value>,
}

fn json_response(body: String) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn call(state: State, body: axum::body::Bytes) -> Response {
    let Ok(call) = serde_json::from_slice::<CallBody>(&body) else {
        return (StatusCode::BAD_REQUEST, "bad body").into_response();
    };
    if call.function != "item_count" {
        return (StatusCode::NOT_FOUND, "only item_count").into_response();
    }
    json_response(json!({"result": state.item_count(), "invalidate": []}).to_string())
}

async fn items(state: State, query: Option<String>) -> Response {
    let mut page = None;
    let mut category = None;
    for pair in query.unwrap_or_default().split('&') {
        match pair.split_once('=') {
            Some(("page", v)) => page = v.parse::<i64>().ok(),
            Some(("category", v)) => category = Some(v.to_string()),
            _ => {}
        }
    }
    let bundle = json!({"item_count": state.item_count(), "items_list": state.items_list(page, category.as_deref())});
    json_response(bundle.to_string())
}

/// The plain handlers over the app's state.
pub fn plain_router(state: &State) -> Router {
    let (s, s2) = (state.clone(), state.clone());
    Router::new()
        .route("/plain/call/", post(move |body: axum::body::Bytes| call(s.clone(), body)))
        .route("/plain/ctx/items/", get(move |q: axum::extract::RawQuery| items(s2.clone(), q.0)))
}
