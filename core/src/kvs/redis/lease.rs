//! The timer lease: exactly one node at a time runs the timer service.
//!
//! Every node keeps its pending timers in the shared timer table (a state like any other), but
//! only the holder of `<prefix>:timers:lease` fires them. The holder renews the lease every
//! second (a script that extends it only if it still holds it); when it dies, the lease expires
//! after `lease_secs` and the next node to try takes it. The holder reloads the table every
//! second, so it also fires timers armed through other nodes' events.
//!
//! A holder that stalls past its lease while firing could fire a timer that the new holder also
//! fires: timer events carry their timer id, the first one logged removes the timer from the
//! table, and reducers treat a repeated id idempotently (an offer expires once).

use super::script;
use crate::clock::SharedClock;
use crate::kvs::{Kvs, KvsError};
use crate::log::LogWriter;
use crate::timers::{TimerService, TimerTable};
use fred::prelude::*;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A lease in Redis, held by one node process at a time.
pub struct TimerLease {
    client: Client,
    key: String,
    holder: String,
    ttl: Duration,
}

impl TimerLease {
    pub(crate) fn new(client: Client, key: String, holder: String, ttl: Duration) -> Self {
        TimerLease {
            client,
            key,
            holder,
            ttl,
        }
    }

    /// Takes the lease if it is free, or renews it if this process holds it; whether it holds
    /// it now.
    ///
    /// # Errors
    /// When Redis does not answer (the caller then stops acting as the holder).
    pub async fn hold(&self) -> Result<bool, KvsError> {
        let ms = self.ttl.as_millis() as i64;
        let renewed: i64 = self
            .client
            .eval(
                script::RENEW,
                vec![self.key.as_str()],
                vec![Value::from(self.holder.as_str()), Value::Integer(ms)],
            )
            .await
            .map_err(super::unavailable)?;
        if renewed == 1 {
            return Ok(true);
        }
        let taken: Value = self
            .client
            .set(
                self.key.as_str(),
                self.holder.as_str(),
                Some(Expiration::PX(ms)),
                Some(SetOptions::NX),
                false,
            )
            .await
            .map_err(super::unavailable)?;
        Ok(!taken.is_null())
    }

    /// Gives the lease up if this process holds it (at shutdown: another node takes over at
    /// once instead of after the lease expires).
    pub async fn release(&self) {
        let _: Result<i64, _> = self
            .client
            .eval(
                script::RELEASE,
                vec![self.key.as_str()],
                vec![Value::from(self.holder.as_str())],
            )
            .await;
    }

    /// Who holds the lease now (`node/pid`), if anyone.
    ///
    /// # Errors
    /// When Redis does not answer.
    pub async fn holder(&self) -> Result<Option<String>, KvsError> {
        self.client
            .get(self.key.as_str())
            .await
            .map_err(super::unavailable)
    }

    /// Runs the timer service while this process holds the lease, until `shutdown`.
    pub async fn run_timers(
        self,
        table: Arc<TimerTable>,
        kvs: Arc<dyn Kvs>,
        clock: SharedClock,
        writer: LogWriter,
        node: Arc<str>,
        shutdown: CancellationToken,
    ) {
        let tick = (self.ttl / 3).min(Duration::from_secs(1));
        let mut running: Option<CancellationToken> = None;
        loop {
            let held = self.hold().await;
            match (held, &running) {
                (Ok(true), None) => match table.reload(&*kvs).await {
                    Ok(pending) => {
                        tracing::info!(
                            pending,
                            "this node holds the timer lease and runs the timers"
                        );
                        let token = shutdown.child_token();
                        let service = TimerService::new(
                            table.clone(),
                            clock.clone(),
                            writer.clone(),
                            node.clone(),
                        );
                        tokio::spawn(service.run(token.clone()));
                        running = Some(token);
                    }
                    Err(e) => tracing::debug!(error = %e, "timer table not readable yet"),
                },
                (Ok(true), Some(_)) => {
                    if let Err(e) = table.reload(&*kvs).await {
                        tracing::debug!(error = %e, "timer table not readable");
                    }
                }
                (Ok(false) | Err(_), Some(token)) => {
                    token.cancel();
                    running = None;
                    tracing::warn!("timer lease lost: another node runs the timers");
                }
                (Ok(false) | Err(_), None) => {}
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(tick) => {}
            }
        }
        if let Some(token) = running {
            token.cancel();
            self.release().await;
        }
    }
}
