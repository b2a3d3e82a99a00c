//! The HTTP server loop under every livefleet endpoint (the origin, the
//! admin API, `/metrics`).
//!
//! `axum::serve` waits forever for a client that sends half a request head
//! and serves any number of connections; on a server that faces viewers
//! that is a slowloris away from running out of sockets. [`serve`] runs the
//! same router with hyper's connection builder and:
//!
//! - closes a connection whose request head (the first, or the next one on
//!   a kept-alive connection) is not complete within
//!   [`HttpLimits::header_timeout`];
//! - serves at most [`HttpLimits::max_connections`] at once (a connection
//!   beyond that is closed at once, logged);
//! - on shutdown stops accepting, lets requests in flight finish for
//!   [`HttpLimits::drain`], then returns.
//!
//! HTTP/1.1 and HTTP/2 (prior knowledge) are both served, WebSocket upgrades too.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// What one HTTP server tolerates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Time a client has to send a whole request head.
    pub header_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// How long requests in flight may finish after shutdown.
    pub drain: Duration,
}

impl Default for HttpLimits {
    /// 10 s for a request head, 10,000 connections, 5 s to drain.
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            drain: Duration::from_secs(5),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes (see the crate docs).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(error) => {
                    tracing::warn!(%local, %error, "accepting an HTTP connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%local, %peer, max = limits.max_connections, "HTTP connection limit reached; closing the new connection");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "HTTP connection ended");
            }
            drop(permit);
        });
    }
    if tokio::time::timeout(limits.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!(%local, "HTTP requests still running after {:?}; closing them", limits.drain);
    }
    Ok(())
}

/// `/metrics` (the Prometheus text format of `registry`) and `/healthz`,
/// to merge into a process's router or serve on a port of their own.
pub fn metrics_router(registry: prometheus::Registry) -> Router {
    use axum::routing::get;
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let registry = registry.clone();
                async move {
                    let mut out = String::new();
                    let _ =
                        prometheus::TextEncoder::new().encode_utf8(&registry.gather(), &mut out);
                    ([("content-type", "text/plain; version=0.0.4")], out)
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn server(
        limits: HttpLimits,
    ) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, router, limits, async move {
            let _ = stopped.await;
        }));
        (addr, stop)
    }

    #[tokio::test]
    async fn half_a_request_head_is_closed_after_the_timeout() {
        let (addr, _stop) = server(HttpLimits {
            header_timeout: Duration::from_millis(300),
            ..HttpLimits::default()
        })
        .await;
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut buf)).await;
        assert!(closed.is_ok(), "a half header kept the connection open");
        // A whole request is still served.
        let mut good = tokio::net::TcpStream::connect(addr).await.unwrap();
        good.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        good.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("ok"), "{answer}");
    }

    #[tokio::test]
    async fn connections_beyond_the_cap_are_closed() {
        let (addr, _stop) = server(HttpLimits {
            max_connections: 2,
            ..HttpLimits::default()
        })
        .await;
        let _a = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _b = tokio::net::TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = third.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let mut buf = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(5), third.read_to_end(&mut buf))
            .await
            .expect("closed at once");
        assert!(
            n.is_err() || buf.is_empty(),
            "the third connection was served"
        );
    }
}
