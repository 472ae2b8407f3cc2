//! The module's whole path, over real sockets: a student's `raise` over `/wsapi/in/`, the log,
//! the hand reducer, the `hands.class` view, and the tile a signed-in teacher's dashboard
//! socket receives — then the hand going down again.

mod common;

use common::*;
use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test]
async fn a_raised_hand_reaches_the_teachers_tile() {
    let dir = TempDir::new("e2e");
    let (runtime, addr) = start(&dir).await;
    let cookie = sign_in(addr, "t.a", "correct-horse-battery").await;

    let mut request = format!("ws://{addr}/wsapi/dashboard")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Cookie", cookie.parse().unwrap());
    let (mut dashboard, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let welcome = recv(&mut dashboard).await;
    assert!(
        welcome["views"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "hands.class", "title": "Hands up", "tile": true})),
        "{welcome}"
    );
    let subscribe =
        json!({"type": "subscribe", "sub": "hands", "course": "C1", "view": "hands.class"});
    dashboard
        .send(Message::Text(subscribe.to_string().into()))
        .await
        .unwrap();
    let snapshot = recv(&mut dashboard).await;
    assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
    assert_eq!(snapshot["summary"]["tile"]["value"], "0");

    let mut ann = student(addr, "ann").await;
    let mut bo = student(addr, "bo").await;
    send(&mut ann, "raise").await;
    let tile = tile_until(&mut dashboard, "1").await;
    assert_eq!(tile["label"], "hand up");
    assert!(
        tile["detail"].as_str().unwrap().starts_with("Ann "),
        "{tile}"
    );
    send(&mut bo, "raise").await;
    let tile = tile_until(&mut dashboard, "2").await;
    assert!(
        tile["detail"].as_str().unwrap().starts_with("Ann, Bo "),
        "{tile}"
    );
    send(&mut ann, "lower").await;
    let tile = tile_until(&mut dashboard, "1").await;
    assert!(
        tile["detail"].as_str().unwrap().starts_with("Bo "),
        "{tile}"
    );

    runtime.shutdown.cancel();
    runtime.shutdown().await;
}
