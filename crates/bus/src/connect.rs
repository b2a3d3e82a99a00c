//! Connecting a livefleet process to NATS.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::{jetstream, ConnectErrorKind, ConnectOptions, Event, ServerAddr};

use crate::BusError;

/// First wait between connection attempts; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Set once this process stops the NATS server it runs on itself.
static STOPPING_OWN_SERVER: AtomicBool = AtomicBool::new(false);

/// Says that this process is about to stop the NATS server it started
/// (`livefleet dev`'s child): the disconnect that follows is its own doing,
/// logged at debug, not reported as a lost server on every orderly stop.
pub fn stopping_own_server() {
    STOPPING_OWN_SERVER.store(true, Ordering::Relaxed);
}

/// Connects to NATS at `url` as `name` (the connection name the server shows).
///
/// A process started before its NATS server keeps trying, with a warning per
/// attempt and a growing pause (up to 5 s): this call returns once connected.
/// Wrap it in a timeout to give up. Errors that retrying cannot fix (a bad
/// URL, refused credentials) return at once. Once connected, the client
/// reconnects forever with the same backoff and logs disconnects and
/// reconnects.
pub async fn connect(url: &str, name: &str) -> Result<async_nats::Client, BusError> {
    connect_with(&NatsConnect::servers(url), name).await
}

/// [`connect`] with credentials and TLS; `config.servers` may list several
/// servers (a cluster's seed URLs, comma-separated): the client picks one,
/// learns the cluster's other servers from it, and on losing its server
/// reconnects to another.
pub async fn connect_with(
    config: &NatsConnect,
    name: &str,
) -> Result<async_nats::Client, BusError> {
    let url = config.servers.as_str();
    let servers = parse_servers(url).map_err(|message| BusError::Connect {
        url: url.to_owned(),
        source: message.into(),
    })?;
    // Credentials in a URL (user:password, or a token alone) hold for the
    // whole cluster; the client does not read them from the URL itself.
    let url_auth = servers.iter().find_map(|s| {
        s.username()
            .map(|u| (u.to_owned(), s.password().map(str::to_owned)))
    });
    let mut attempt: u32 = 0;
    loop {
        let mut options = options_for(config, name).await?;
        options = match &url_auth {
            Some((user, Some(password))) => {
                options.user_and_password(user.clone(), password.clone())
            }
            Some((token, None)) => options.token(token.clone()),
            None => options,
        };
        match options.connect(servers.as_slice()).await {
            Ok(client) => {
                if attempt > 0 {
                    tracing::info!(
                        url,
                        name,
                        "connected to NATS after {attempt} failed attempts"
                    );
                } else {
                    tracing::debug!(url, name, "connected to NATS");
                }
                return Ok(client);
            }
            Err(e) => match e.kind() {
                ConnectErrorKind::Io | ConnectErrorKind::TimedOut | ConnectErrorKind::Dns => {
                    let wait = backoff(attempt as usize);
                    tracing::warn!(
                        url,
                        name,
                        "NATS is not reachable yet ({e}); retrying in {} ms",
                        wait.as_millis()
                    );
                    tokio::time::sleep(wait).await;
                    attempt = attempt.saturating_add(1);
                }
                _ => {
                    return Err(BusError::Connect {
                        url: url.to_owned(),
                        source: Box::new(e),
                    })
                }
            },
        }
    }
}

/// How to reach NATS: the servers and the credentials, as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatsConnect {
    /// One server URL or a comma-separated list (a cluster's seed URLs).
    pub servers: String,
    /// A credentials file (user JWT + NKEY seed).
    pub creds: Option<PathBuf>,
    /// A file holding an NKEY seed.
    pub nkey: Option<PathBuf>,
    /// Require TLS.
    pub tls: bool,
    /// CA certificate (PEM) for the servers.
    pub tls_ca: Option<PathBuf>,
    /// Client certificate and key (PEM).
    pub tls_client: Option<(PathBuf, PathBuf)>,
}

impl NatsConnect {
    /// Plain servers, no credentials.
    pub fn servers(servers: &str) -> Self {
        Self {
            servers: servers.to_owned(),
            ..Self::default()
        }
    }
}

/// The server addresses of a comma-separated list.
pub fn parse_servers(list: &str) -> Result<Vec<ServerAddr>, String> {
    let addrs: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if addrs.is_empty() {
        return Err("no NATS server given".to_owned());
    }
    addrs
        .iter()
        .map(|a| {
            a.parse::<ServerAddr>()
                .map_err(|e| format!("NATS server address {a:?}: {e}"))
        })
        .collect()
}

async fn options_for(config: &NatsConnect, name: &str) -> Result<ConnectOptions, BusError> {
    let bad = |message: String| BusError::Config(message);
    let mut options = options(name);
    if let Some(path) = &config.creds {
        options = options
            .credentials_file(path)
            .await
            .map_err(|e| bad(format!("NATS credentials file {}: {e}", path.display())))?;
    }
    if let Some(path) = &config.nkey {
        let seed = std::fs::read_to_string(path)
            .map_err(|e| bad(format!("NATS NKEY seed file {}: {e}", path.display())))?;
        options = options.nkey(seed.trim().to_owned());
    }
    if let Some(ca) = &config.tls_ca {
        options = options.add_root_certificates(ca.clone());
    }
    if let Some((cert, key)) = &config.tls_client {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    if config.tls || config.tls_ca.is_some() || config.tls_client.is_some() {
        options = options.require_tls(true);
    }
    Ok(options)
}

fn options(name: &str) -> ConnectOptions {
    let conn = name.to_owned();
    // The first `Connected` is the connection `connect_with` made (it logs
    // that itself); every later one follows a disconnect.
    let first = std::sync::Arc::new(AtomicBool::new(true));
    ConnectOptions::new()
        .name(name)
        .max_reconnects(None)
        .reconnect_delay_callback(backoff)
        .event_callback(move |event| {
            let (conn, first) = (conn.clone(), first.clone());
            async move {
                match event {
                    Event::Connected if first.swap(false, Ordering::Relaxed) => {}
                    Event::Connected => tracing::info!(name = conn, "reconnected to NATS"),
                    Event::Disconnected if STOPPING_OWN_SERVER.load(Ordering::Relaxed) => {
                        tracing::debug!(
                            name = conn,
                            "disconnected from the NATS server this process stopped"
                        )
                    }
                    Event::Disconnected => {
                        tracing::warn!(name = conn, "disconnected from NATS; reconnecting")
                    }
                    Event::LameDuckMode => {
                        tracing::info!(name = conn, "NATS server entered lame duck mode")
                    }
                    Event::SlowConsumer(sid) => tracing::warn!(
                        name = conn,
                        "NATS slow consumer on subscription {sid}: messages were dropped"
                    ),
                    other => tracing::debug!(name = conn, "NATS event: {other}"),
                }
            }
        })
}

/// Exponential backoff: 100 ms, 200 ms, ... up to 5 s.
fn backoff(attempt: usize) -> Duration {
    let shift = u32::try_from(attempt.min(16)).unwrap_or(16);
    FIRST_BACKOFF.saturating_mul(1u32 << shift).min(MAX_BACKOFF)
}

/// A JetStream context on `client`, after checking that the server has
/// JetStream enabled (so a misconfigured server fails at start-up with a
/// clear message rather than at the first publish).
pub async fn jetstream(client: &async_nats::Client) -> Result<jetstream::Context, BusError> {
    let js = jetstream::new(client.clone());
    // `query_account` cannot read the answer of a 2.9 server; the raw
    // account info request works with every version.
    js.request::<_, _, serde_json::Value>("INFO", &())
        .await
        .map_err(|e| BusError::JetStreamUnavailable {
            source: Box::new(e),
        })?;
    Ok(js)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(10), MAX_BACKOFF);
        assert_eq!(backoff(usize::MAX), MAX_BACKOFF);
    }
}
