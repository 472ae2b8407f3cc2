//! Throwaway `redis-server` processes for tests and benchmarks.
//!
//! Each server listens on a free loopback port (never `--port 0`, which turns TCP off in
//! Redis), keeps its files in a temporary directory, and is killed and cleaned up when dropped.
//! [`RedisCluster`] starts three such servers in cluster mode and joins them with
//! `redis-cli --cluster create` (each port + 10000 must be free for the cluster bus).
//!
//! Tests call [`redis_or_skip`]: it returns the server named by `CLASSPULSE_REDIS_URL` when
//! that is set, else starts one. When `redis-server` cannot be started it panics under
//! `CI=true` (a Redis test never passes silently in CI) and otherwise prints why the test is
//! skipped and returns `None`.
//!
//! [`ReducerHarness`] (in [`harness`]) tests one reducer without a runtime: events at given
//! server times, states and effects (timers, notifications) to assert on. [`log_line`] and
//! [`batch_of`] (in [`log_lines`]) write event-log lines and batches for tests of the router
//! and of replay.

pub mod harness;
pub mod log_lines;

pub use harness::ReducerHarness;
pub use log_lines::{batch_of, log_line};

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A `redis-server` could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot start redis-server: {0}")]
pub struct RedisStartError(pub String);

/// How to start a server.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedisOptions {
    /// Keep an append-only file (`appendfsync everysec`), so a restart finds the data.
    pub aof: bool,
    /// Start in cluster mode (for [`RedisCluster`]).
    pub cluster: bool,
}

/// A running `redis-server` on 127.0.0.1.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    /// Its port.
    pub port: u16,
    dir: PathBuf,
    options: RedisOptions,
}

fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "classpulse-redis-{tag}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// A loopback port that is free now (and whose cluster-bus port, +10000, is too).
pub fn free_port(cluster: bool) -> Option<u16> {
    for _ in 0..50 {
        let listener = TcpListener::bind("127.0.0.1:0").ok()?;
        let port = listener.local_addr().ok()?.port();
        if !cluster {
            return Some(port);
        }
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return Some(port);
        }
    }
    None
}

impl RedisServer {
    /// Starts a server on a free port in a fresh temporary directory.
    ///
    /// # Errors
    /// When `redis-server` is missing or does not answer.
    pub fn start(options: RedisOptions) -> Result<RedisServer, RedisStartError> {
        let dir = temp_dir("server");
        std::fs::create_dir_all(&dir).map_err(|e| RedisStartError(e.to_string()))?;
        let mut last = String::new();
        for _ in 0..5 {
            let port =
                free_port(options.cluster).ok_or_else(|| RedisStartError("no free port".into()))?;
            let mut server = RedisServer {
                child: None,
                port,
                dir: dir.clone(),
                options,
            };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) => last = e.0,
            }
        }
        Err(RedisStartError(last))
    }

    fn spawn(&mut self) -> Result<(), RedisStartError> {
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.dir.join("redis.log"))
            .args(["--appendonly", if self.options.aof { "yes" } else { "no" }])
            .args(["--appendfsync", "everysec"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.options.cluster {
            cmd.args(["--cluster-enabled", "yes", "--cluster-node-timeout", "5000"])
                .arg("--cluster-config-file")
                .arg(self.dir.join("nodes.conf"));
        }
        let mut child = cmd.spawn().map_err(|e| {
            RedisStartError(format!("redis-server: {e} (apt-get install redis-server)"))
        })?;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
                return Err(RedisStartError(format!(
                    "redis-server exited with {status}: {}",
                    log.lines().rev().take(3).collect::<Vec<_>>().join(" | ")
                )));
            }
            if command(self.port, "PING").is_some_and(|r| r.starts_with("+PONG")) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RedisStartError(format!(
                    "redis-server on port {} did not answer",
                    self.port
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Its data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Kills it at once (SIGKILL: no final save).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port; `wipe` deletes its files first (it comes back empty).
    ///
    /// # Errors
    /// When it does not come back.
    pub fn restart(&mut self, wipe: bool) -> Result<(), RedisStartError> {
        self.kill();
        if wipe {
            let _ = std::fs::remove_dir_all(&self.dir);
            std::fs::create_dir_all(&self.dir).map_err(|e| RedisStartError(e.to_string()))?;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => return Err(e),
                // The port may linger a moment after the kill.
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// Sends one inline command and returns the raw reply (for checks in tests).
    pub fn command(&self, line: &str) -> Option<String> {
        command(self.port, line)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends an inline command to 127.0.0.1:`port`, returns what came back within a second.
fn command(port: u16, line: &str) -> Option<String> {
    let mut stream =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    stream.write_all(format!("{line}\r\n").as_bytes()).ok()?;
    let mut buf = vec![0u8; 64 * 1024];
    let n = stream.read(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Three cluster-mode servers joined into a Redis Cluster of three primaries.
#[derive(Debug)]
pub struct RedisCluster {
    /// The primaries.
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three servers and creates the cluster (`redis-cli --cluster create`).
    ///
    /// # Errors
    /// When a server does not start or the cluster does not form.
    pub fn start() -> Result<RedisCluster, RedisStartError> {
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(RedisServer::start(RedisOptions {
                aof: false,
                cluster: true,
            })?);
        }
        let mut cmd = Command::new("redis-cli");
        cmd.arg("--cluster").arg("create");
        for node in &nodes {
            cmd.arg(format!("127.0.0.1:{}", node.port));
        }
        let out = cmd
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| RedisStartError(format!("redis-cli: {e}")))?;
        if !out.status.success() {
            return Err(RedisStartError(format!(
                "redis-cli --cluster create failed: {}",
                String::from_utf8_lossy(&out.stdout)
            )));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while !nodes.iter().all(|n| {
            n.command("CLUSTER INFO")
                .is_some_and(|r| r.contains("cluster_state:ok"))
        }) {
            if Instant::now() > deadline {
                return Err(RedisStartError("the cluster did not become ok".into()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(RedisCluster { nodes })
    }

    /// `redis-cluster://127.0.0.1:<p1>?node=127.0.0.1:<p2>&node=127.0.0.1:<p3>`.
    pub fn url(&self) -> String {
        let mut url = format!("redis-cluster://127.0.0.1:{}", self.nodes[0].port);
        for (i, node) in self.nodes.iter().enumerate().skip(1) {
            url.push(if i == 1 { '?' } else { '&' });
            url.push_str(&format!("node=127.0.0.1:{}", node.port));
        }
        url
    }
}

/// Where a test's Redis is.
#[derive(Debug)]
pub enum TestRedis {
    /// `CLASSPULSE_REDIS_URL`.
    External(String),
    /// Started for the test.
    Owned(RedisServer),
}

impl TestRedis {
    /// Its URL.
    pub fn url(&self) -> String {
        match self {
            TestRedis::External(url) => url.clone(),
            TestRedis::Owned(server) => server.url(),
        }
    }
}

/// What to do when Redis cannot be had: fail under `CI=true`, else say why and skip.
fn unavailable(test: &str, e: &RedisStartError) {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        !ci,
        "{test}: {e} — under CI=true a Redis test must run, not skip"
    );
    eprintln!("SKIPPING {test}: {e} (install redis-server, or set CLASSPULSE_REDIS_URL)");
}

/// The Redis for `test`: `CLASSPULSE_REDIS_URL`, else a server started now; `None` (with a
/// message) when none can be had outside CI. Panics under `CI=true` when none can be had.
pub fn redis_or_skip(test: &str) -> Option<TestRedis> {
    if let Ok(url) = std::env::var("CLASSPULSE_REDIS_URL")
        && !url.is_empty()
    {
        return Some(TestRedis::External(url));
    }
    owned_redis_or_skip(test, RedisOptions::default()).map(TestRedis::Owned)
}

/// A server started for `test` (for tests that kill and restart it); `None` with a message
/// outside CI when it cannot be started, a panic under `CI=true`.
pub fn owned_redis_or_skip(test: &str, options: RedisOptions) -> Option<RedisServer> {
    match RedisServer::start(options) {
        Ok(server) => Some(server),
        Err(e) => {
            unavailable(test, &e);
            None
        }
    }
}

/// A three-primary cluster for `test`; `None` with a message outside CI when it cannot be
/// started, a panic under `CI=true`.
pub fn cluster_or_skip(test: &str) -> Option<RedisCluster> {
    match RedisCluster::start() {
        Ok(cluster) => Some(cluster),
        Err(e) => {
            unavailable(test, &e);
            None
        }
    }
}

/// A key prefix no other test run uses.
pub fn unique_prefix(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!(
        "cptest:{tag}:{}:{}:{:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        nanos & 0xffff_ffff
    )
}
