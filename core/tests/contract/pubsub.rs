//! What every [`PubSub`] must do.

use bytes::Bytes;
use classpulse_core::pubsub::{Delivery, PubSub, Subscription};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;

async fn next(sub: &mut Subscription) -> Option<Delivery> {
    tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .ok()
        .flatten()
}

async fn nothing_within(sub: &mut Subscription, wait: Duration) -> bool {
    tokio::time::timeout(wait, sub.next()).await.is_err()
}

/// The suite. `a` and `b` are two handles on one broker (two nodes; for memory the same
/// object); `small` is a handle on the same broker as `a` (for memory: its own broker) whose
/// subscribers buffer at most 8 messages. `run` makes the
/// topics unique.
pub async fn pubsub_contract(
    a: Arc<dyn PubSub>,
    b: Arc<dyn PubSub>,
    small: Arc<dyn PubSub>,
    run: &str,
) {
    let topic = format!("{run}.changes");
    let other_topic = format!("{run}.other");
    assert!(a.healthy().await);

    // Publishing with nobody listening is fine. (On a topic of its own: a cluster may deliver
    // a publication made just before a subscription to it.)
    a.publish(&format!("{run}.nobody"), Bytes::from_static(b"nobody"))
        .await
        .unwrap();

    let mut s1 = b.subscribe(&topic).await.unwrap();
    let mut s2 = b.subscribe(&topic).await.unwrap();
    let mut s_other = a.subscribe(&other_topic).await.unwrap();
    for i in 0..20 {
        a.publish(&topic, Bytes::from(format!("m{i}")))
            .await
            .unwrap();
    }
    // Every subscriber gets every message, in order, across handles.
    for sub in [&mut s1, &mut s2] {
        for i in 0..20 {
            assert_eq!(
                next(sub).await,
                Some(Delivery::Message(Bytes::from(format!("m{i}")))),
                "message {i}"
            );
        }
    }
    // Another topic's subscriber gets none of them.
    assert!(nothing_within(&mut s_other, Duration::from_millis(300)).await);
    b.publish(&other_topic, Bytes::from_static(b"x"))
        .await
        .unwrap();
    assert_eq!(
        next(&mut s_other).await,
        Some(Delivery::Message(Bytes::from_static(b"x")))
    );

    // A subscriber that does not keep up is told it lagged, then gets what is recent.
    let slow_topic = format!("{run}.slow");
    let mut slow = small.subscribe(&slow_topic).await.unwrap();
    let mut probe = small.subscribe(&slow_topic).await.unwrap();
    for i in 0..100 {
        small
            .publish(&slow_topic, Bytes::from(format!("s{i}")))
            .await
            .unwrap();
    }
    // Wait until the last message has reached this process.
    let mut last = None;
    while let Some(d) = next(&mut probe).await {
        if d == Delivery::Message(Bytes::from_static(b"s99")) {
            last = Some(d);
            break;
        }
    }
    assert!(last.is_some(), "the last message arrives");
    match next(&mut slow).await {
        Some(Delivery::Lagged(n)) => assert!(n > 0, "lagged by {n}"),
        other => panic!("expected Lagged first, got {other:?}"),
    }
    let mut tail = Vec::new();
    while let Ok(Some(Delivery::Message(m))) =
        tokio::time::timeout(Duration::from_millis(300), slow.next()).await
    {
        tail.push(m);
    }
    assert!(tail.len() <= 8, "at most the buffer: {}", tail.len());
    assert_eq!(tail.last(), Some(&Bytes::from_static(b"s99")));
}
