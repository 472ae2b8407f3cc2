//! The KVS and pub/sub contract suites against memory, a Redis the test starts, and a
//! three-primary Redis Cluster the test starts (`CLASSPULSE_REDIS_URL` points the single-server
//! suite at an existing Redis instead; under `CI=true` a Redis that cannot be started fails).

mod contract;

use classpulse_core::config::{RedisKvsConfig, RedisPubSubConfig};
use classpulse_core::kvs::{Kvs, MemoryKvs, RedisKvs};
use classpulse_core::pubsub::{MemoryPubSub, PubSub, RedisPubSub};
use classpulse_core::testing::{cluster_or_skip, redis_or_skip, unique_prefix};
use std::sync::Arc;

async fn redis_kvs(url: &str, prefix: &str, node: &str) -> Arc<dyn Kvs> {
    let config = RedisKvsConfig {
        url: url.to_owned(),
        prefix: prefix.to_owned(),
        ..RedisKvsConfig::default()
    };
    RedisKvs::connect(&config, node, None)
        .await
        .expect("connects")
}

async fn redis_pubsub(url: &str, prefix: &str, capacity: usize) -> Arc<dyn PubSub> {
    let config = RedisPubSubConfig {
        url: url.to_owned(),
        prefix: prefix.to_owned(),
        capacity,
    };
    RedisPubSub::connect(&config).await.expect("connects")
}

#[tokio::test]
async fn memory_backends_keep_the_contracts() {
    let kvs: Arc<dyn Kvs> = Arc::new(MemoryKvs::new());
    contract::kvs::kvs_contract(kvs.clone(), kvs, "mem").await;
    let ps: Arc<dyn PubSub> = Arc::new(MemoryPubSub::new(1024));
    let small: Arc<dyn PubSub> = Arc::new(MemoryPubSub::new(8));
    // A memory pub/sub is one process: the small one is its own broker.
    contract::pubsub::pubsub_contract(ps.clone(), ps, small, "mem").await;
}

async fn both_contracts(url: &str, tag: &str) {
    let prefix = unique_prefix(tag);
    let a = redis_kvs(url, &prefix, "node-a").await;
    let b = redis_kvs(url, &prefix, "node-b").await;
    contract::kvs::kvs_contract(a, b, tag).await;
    let pa = redis_pubsub(url, &prefix, 1024).await;
    let pb = redis_pubsub(url, &prefix, 1024).await;
    let small = redis_pubsub(url, &prefix, 8).await;
    contract::pubsub::pubsub_contract(pa, pb, small, tag).await;
}

#[tokio::test]
async fn redis_backends_keep_the_contracts() {
    let Some(redis) = redis_or_skip("redis_backends_keep_the_contracts") else {
        return;
    };
    both_contracts(&redis.url(), "redis").await;
}

#[tokio::test]
async fn redis_cluster_backends_keep_the_contracts() {
    let Some(cluster) = cluster_or_skip("redis_cluster_backends_keep_the_contracts") else {
        return;
    };
    both_contracts(&cluster.url(), "cluster").await;
}
