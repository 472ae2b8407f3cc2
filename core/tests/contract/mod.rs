//! The backend contract suites: one per backend trait, run against every backend (memory,
//! Redis, a Redis Cluster). A backend passes when it behaves as the runtime relies on.

#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod kvs;
pub mod pubsub;
