//! The generated Rust clients, compiled with every warning an error, and used as a caller
//! would (types, optional fields, the async methods), so a change that breaks a caller fails.
#![deny(warnings)]

#[path = "../../rust/edge/mizan_client.rs"]
pub mod edge;
#[path = "../../rust/parity/mizan_client.rs"]
pub mod parity;
#[path = "../../rust/shop/mizan_client.rs"]
pub mod shop;

/// A caller of the shop client: every kind of request, typed end to end.
pub async fn use_shop(client: &shop::MizanClient) -> Result<String, shop::MizanError> {
    let user = client.fetch_user(&shop::UserParams { user_id: 5, page: None }).await?;
    let total: f64 = user.user_orders.iter().map(|o| o.total).sum();
    let items = client.fetch_items(&shop::ItemsParams::default()).await?;
    let updated: shop::UserShape = client.call_update_profile(&shop::UpdateProfileArgs { user_id: 5, name: "R".into() }).await?;
    let sent = client.call_contact_submit(&shop::ContactSubmitArgs { message: "hi".into(), attachment: None }).await?;
    let email: Option<&str> = updated.email.as_deref();
    Ok(format!("{total} {} {} {email:?} {}", items.items_list.len(), user.user_profile.name, sent.len()))
}

/// The corners of the edge fixture: boxed recursion, keyword fields, a `null` result.
pub async fn use_edge(client: &edge::MizanClient) -> Result<(), edge::MizanError> {
    let board = client.fetch_board(&edge::BoardParams { board_id: 1, filter: None, since: None }).await?;
    let parent: Option<&edge::Column> = board.board_columns.first().and_then(|c| c.parent.as_deref());
    let card = client
        .call_move_card(&edge::MoveCardArgs { card_id: 1, to: 2, class: None, timeout: Some(1.5), self_: None, lane: edge::Lane::Self_ })
        .await?;
    let kind: &str = &card.r#type;
    let cleared: () = client.call_clear_board(&edge::ClearBoardArgs { board_id: 1 }).await?;
    let _ = (parent, kind, cleared, client.fetch_global(&edge::GlobalParams::default()).await?.session_info.flags);
    Ok(())
}

/// The parity fixture's enum: a unit enum, serialised as its value.
pub async fn use_parity(client: &parity::MizanClient) -> Result<Vec<&'static str>, parity::MizanError> {
    let order = client.call_set_order_status(&parity::SetOrderStatusArgs { order_id: 1, status: parity::OrderStatus::Shipped }).await?;
    let mine = client.fetch_user(&parity::UserParams { user_id: 5, status: Some(parity::OrderStatus::Paid) }).await?;
    let shipped = mine.user_orders.iter().filter(|o| o.status == parity::OrderStatus::Shipped).count();
    let _ = (order.shipping.map(|a| a.city), shipped, order.totals.get("gross").copied());
    Ok(parity::OrderStatus::ALL.iter().map(|s| s.as_str()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_answers_decode_into_the_generated_types() {
        let order: parity::Order = serde_json::from_value(json!({
            "id": 1, "status": "shipped", "placed_at": "2026-01-01",
            "lines": [{"product_id": 2, "quantity": 3, "unit_price": 1.5}],
            "totals": {"gross": 4.5}
        }))
        .unwrap();
        assert_eq!(order.status, parity::OrderStatus::Shipped);
        assert_eq!(order.shipping, None, "an absent optional field is None");
        assert!(serde_json::from_value::<parity::OrderSummary>(json!({"id": 1, "status": "lost", "total": 1})).is_err());

        let card: edge::Card = serde_json::from_value(json!({
            "id": 1, "type": "task", "self": "me", "meta": {"x": [1]}, "nothing": null,
            "lane": "in progress", "history": ["", "2nd"], "marks": {"a": null, "b": "self"}
        }))
        .unwrap();
        assert_eq!((card.r#type.as_str(), card.self_.as_deref(), card.lane), ("task", Some("me"), edge::Lane::InProgress));
        assert_eq!(card.history, vec![edge::Lane::Empty, edge::Lane::V2nd]);
        assert_eq!(card.marks["b"], Some(edge::Lane::Self_));
        let back = serde_json::to_value(&card).unwrap();
        assert_eq!((back["self"].clone(), back["lane"].clone()), (json!("me"), json!("in progress")));
        assert!(back.get("attachment").is_none(), "an absent optional field is left out");
    }

    #[test]
    fn recursive_types_nest() {
        let column: edge::Column = serde_json::from_value(json!({
            "id": 1, "title": "a", "cards": [], "parent": {"id": 0, "title": "root", "cards": []}
        }))
        .unwrap();
        assert_eq!(column.parent.unwrap().title, "root");
    }

    #[test]
    fn params_go_out_as_the_server_reads_them() {
        let pairs = edge::query_pairs(&edge::SearchParams { q: Some("a b".into()), limit: None, sort: Some(edge::Sort::Newest) }).unwrap();
        assert_eq!(pairs, vec![("q".to_string(), "a b".to_string()), ("sort".to_string(), "newest".to_string())]);
        let pairs = edge::query_pairs(&edge::BoardParams { board_id: 7, filter: None, since: None }).unwrap();
        assert_eq!(pairs, vec![("board_id".to_string(), "7".to_string())]);
        let args = serde_json::to_value(parity::PlaceOrderArgs { user_id: 5, lines: vec![parity::OrderLineInput { product_id: 1, quantity: 2 }], note: None }).unwrap();
        assert_eq!(args, json!({"user_id": 5, "lines": [{"product_id": 1, "quantity": 2}]}), "an optional input left out");
        let args = serde_json::to_value(edge::UploadAvatarArgs { file: json!("data:,"), note: None }).unwrap();
        assert_eq!(args, json!({"file": "data:,", "note": null}), "a required optional goes as null");
    }
}
