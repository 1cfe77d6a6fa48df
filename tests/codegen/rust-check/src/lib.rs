//! The generated Rust clients, compiled with every warning an error, and used as a caller
//! would (types, optional fields, the async methods), so a change that breaks a caller fails.
#![deny(warnings)]

#[path = "../../rust/edge/mizan_client.rs"]
pub mod edge;
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
        .call_move_card(&edge::MoveCardArgs { card_id: 1, to: 2, class: None, timeout: Some(1.5), self_: None })
        .await?;
    let kind: &str = &card.r#type;
    let cleared: () = client.call_clear_board(&edge::ClearBoardArgs { board_id: 1 }).await?;
    let _ = (parent, kind, cleared, client.fetch_global(&edge::GlobalParams::default()).await?.session_info.flags);
    Ok(())
}
