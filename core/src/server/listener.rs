//! The accept loop: each TCP connection (after its TLS handshake, with `[server.tls]`) gets an
//! HTTP/1.1 connection (upgradable to a WebSocket) that must send its request head within
//! `server.handshake_timeout_secs` — the TLS handshake must fit in that time too — and its peer
//! address as [`ConnectInfo`]. On shutdown the loop stops accepting and lets open HTTP
//! exchanges finish; upgraded sockets are the runtime's to drain.
//!
//! Ours rather than `axum::serve` because that one has no handshake timeout: a client that
//! opens sockets and trickles (or never sends) its request head would hold them forever.

use crate::runtime::Runtime;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Accepts connections until the runtime's shutdown token fires, then waits for the HTTP
/// exchanges in flight.
pub(crate) async fn accept_loop(runtime: &Arc<Runtime>, listener: TcpListener, app: Router) {
    let shutdown = runtime.shutdown.clone();
    let handshake = Duration::from_secs(runtime.config.server.handshake_timeout_secs);
    let connections = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let (app, shutdown) = (app.clone(), shutdown.clone());
        match &runtime.tls {
            None => {
                connections.spawn(serve_connection(stream, peer, app, handshake, shutdown));
            }
            Some(tls) => {
                let acceptor = tokio_rustls::TlsAcceptor::from(tls.clone());
                connections.spawn(async move {
                    match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            serve_connection(stream, peer, app, handshake, shutdown).await
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => {
                            crate::telemetry::metrics::limit_hit("handshake_timeout");
                            tracing::debug!(%peer, "TLS handshake timed out");
                        }
                    }
                });
            }
        }
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// Serves one connection's HTTP exchanges (any byte stream: plain TCP or TLS).
pub(crate) async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    app: Router,
    handshake: Duration,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(handshake)
        .keep_alive(true);
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        r = connection.as_mut() => r,
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        // Timeouts, resets and malformed requests end here: the client's problem, not ours.
        if e.is_timeout() {
            crate::telemetry::metrics::limit_hit("handshake_timeout");
        }
        tracing::debug!(%peer, error = %e, "HTTP connection ended");
    }
}
