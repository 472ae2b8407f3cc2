//! One simulated student per connection, and the totals of a run.

use super::SimulateArgs;
use super::frames;
use super::text::{Rng, essay};
use futures_util::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// What one student sends.
pub(crate) struct Plan {
    pub(crate) user_id: String,
    pub(crate) frames: Vec<Message>,
}

impl Plan {
    pub(crate) fn new(args: &SimulateArgs, student: usize) -> Self {
        let mut rng = Rng::new(
            args.seed
                .wrapping_mul(1_000_003)
                .wrapping_add(student as u64),
        );
        let user_id = format!("{}{student}", args.user_prefix);
        let mut out = Vec::new();
        if !args.idle {
            for doc in 0..args.docs.max(1) {
                let doc_id = format!("sim-doc-{}-{student}-{doc}", args.seed);
                let text = essay(&mut rng, args.chars);
                out.extend(
                    frames::typing(&doc_id, &text, args.save_every, args.keystrokes)
                        .into_iter()
                        .map(|f| Message::Text(f.into())),
                );
            }
        }
        Plan {
            user_id,
            frames: out,
        }
    }
}

/// Totals of a run.
#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub(crate) sent: u64,
    pub(crate) acked: u64,
    pub(crate) errors: u64,
    pub(crate) connected: u64,
    pub(crate) connect_errors: u64,
    pub(crate) elapsed: Duration,
    latencies_us: Vec<u32>,
}

impl Totals {
    /// Totals of a run that sent (and had acknowledged) `sent` events in `elapsed`.
    pub(crate) fn finished(sent: u64, elapsed: Duration) -> Self {
        Totals {
            sent,
            acked: sent,
            elapsed,
            ..Totals::default()
        }
    }

    /// A latency percentile in milliseconds.
    pub(crate) fn latency_percentile(&self, p: f64) -> Option<f64> {
        if self.latencies_us.is_empty() {
            return None;
        }
        let mut v = self.latencies_us.clone();
        v.sort_unstable();
        let i = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
        Some(f64::from(v[i.min(v.len() - 1)]) / 1000.0)
    }

    fn merge(&mut self, other: Totals) {
        self.sent += other.sent;
        self.acked += other.acked;
        self.errors += other.errors;
        self.connected += other.connected;
        self.connect_errors += other.connect_errors;
        self.latencies_us.extend(other.latencies_us);
    }
}

pub(crate) async fn run_all(
    args: &SimulateArgs,
    plans: Vec<Plan>,
    deadline: Option<Instant>,
) -> anyhow::Result<Totals> {
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(plans.len());
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(plans.len().max(1));
    let go = std::sync::Arc::new(tokio::sync::Notify::new());
    let n = plans.len();
    for (i, plan) in plans.into_iter().enumerate() {
        let args = args.clone();
        let source =
            (!args.source_ips.is_empty()).then(|| args.source_ips[i % args.source_ips.len()]);
        let ready = ready_tx.clone();
        let go = go.clone();
        tasks.push(tokio::spawn(async move {
            student(&args, plan, source, deadline, ready, go).await
        }));
    }
    drop(ready_tx);
    // Start sending only once everyone is connected, so the rate measures steady state.
    for _ in 0..n {
        if ready_rx.recv().await.is_none() {
            break;
        }
    }
    let sending = Instant::now();
    go.notify_waiters();
    let mut totals = Totals::default();
    for t in tasks {
        if let Ok(t) = t.await {
            totals.merge(t);
        }
    }
    totals.elapsed = if args.idle {
        start.elapsed()
    } else {
        sending.elapsed()
    };
    Ok(totals)
}

async fn connect(
    url: &str,
    source: Option<IpAddr>,
) -> anyhow::Result<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>> {
    let request = url::Url::parse(url)?;
    let host = request.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = request.port_or_known_default().unwrap_or(80);
    let addr: SocketAddr = tokio::net::lookup_host((host.as_str(), port))
        .await?
        .next()
        .ok_or_else(|| anyhow::anyhow!("cannot resolve {host}"))?;
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(64 * 1024);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config)).await?;
    Ok(ws)
}

async fn student(
    args: &SimulateArgs,
    plan: Plan,
    source: Option<IpAddr>,
    deadline: Option<Instant>,
    ready: tokio::sync::mpsc::Sender<()>,
    go: std::sync::Arc<tokio::sync::Notify>,
) -> Totals {
    let mut totals = Totals::default();
    let started = go.notified();
    let ws = match connect(&args.url, source).await {
        Ok(ws) => ws,
        Err(e) => {
            tracing_free_log(&format!("connect failed: {e}"));
            totals.connect_errors += 1;
            let _ = ready.send(()).await;
            return totals;
        }
    };
    totals.connected = 1;
    let (mut sink, mut stream) = ws.split();
    let header = frames::lock_fields(&plan.user_id, args.ack && !args.idle);
    if sink.send(Message::Text(header.into())).await.is_err() {
        totals.connect_errors += 1;
        let _ = ready.send(()).await;
        return totals;
    }
    let _ = ready.send(()).await;
    started.await;

    if args.idle {
        // The header alone authenticates (its `user_id`); hold the socket open, sending nothing.
        let hold = async { while let Some(Ok(_)) = stream.next().await {} };
        match deadline {
            Some(d) => {
                let _ = tokio::time::timeout_at(d.into(), hold).await;
            }
            None => hold.await,
        }
        return totals;
    }

    let total = plan.frames.len() as u64;
    let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
    let ack = args.ack;
    let acked_so_far = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let ack_moved = std::sync::Arc::new(tokio::sync::Notify::new());
    let (acked_in, moved_in) = (acked_so_far.clone(), ack_moved.clone());
    let reader = tokio::spawn(async move {
        let mut t = Totals::default();
        let mut in_flight: VecDeque<(u64, Instant)> = VecDeque::new();
        while let Some(message) = stream.next().await {
            let Ok(Message::Text(text)) = message else {
                if matches!(message, Ok(Message::Close(_)) | Err(_)) {
                    break;
                }
                continue;
            };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(text.as_str()) else {
                continue;
            };
            match v["status"].as_str() {
                Some("ack") => {
                    let count = v["count"].as_u64().unwrap_or(0);
                    let now = Instant::now();
                    while let Ok(s) = sent_rx.try_recv() {
                        in_flight.push_back(s);
                    }
                    while let Some(&(upto, at)) = in_flight.front() {
                        if upto > count {
                            break;
                        }
                        in_flight.pop_front();
                        t.latencies_us
                            .push(now.duration_since(at).as_micros().min(u32::MAX as u128) as u32);
                    }
                    t.acked = count;
                    acked_in.store(count, std::sync::atomic::Ordering::Release);
                    moved_in.notify_one();
                    if count >= total {
                        break;
                    }
                }
                Some("error") => t.errors += 1,
                _ => {}
            }
        }
        t
    });

    let batch = args.batch.max(1);
    let begin = Instant::now();
    let mut sent = 0u64;
    for chunk in plan.frames.chunks(batch) {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if args.rate > 0.0 {
            let due = begin + Duration::from_secs_f64(sent as f64 / args.rate);
            tokio::time::sleep_until(due.into()).await;
        }
        if args.window > 0 && args.ack {
            while sent.saturating_sub(acked_so_far.load(std::sync::atomic::Ordering::Acquire))
                >= args.window
            {
                if tokio::time::timeout(Duration::from_secs(30), ack_moved.notified())
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
        let mut failed = false;
        for frame in chunk {
            if sink.feed(frame.clone()).await.is_err() {
                failed = true;
                break;
            }
        }
        if failed || sink.flush().await.is_err() {
            break;
        }
        sent += chunk.len() as u64;
        // Each frame is one event; record when the last of this flush left.
        let _ = sent_tx.send((sent, Instant::now()));
    }
    totals.sent = sent;
    drop(sent_tx);
    if ack {
        // Wait for the acks to catch up (bounded), then hang up.
        let wait = tokio::time::timeout(Duration::from_secs(30), reader).await;
        if let Ok(Ok(t)) = wait {
            totals.merge(Totals {
                connected: 0,
                sent: 0,
                ..t
            });
        }
        let _ = sink.send(Message::Close(None)).await;
    } else {
        let _ = sink.send(Message::Close(None)).await;
        if let Ok(Ok(t)) = tokio::time::timeout(Duration::from_secs(5), reader).await {
            totals.errors += t.errors;
        }
    }
    totals
}

fn tracing_free_log(message: &str) {
    eprintln!("simulate: {message}");
}
