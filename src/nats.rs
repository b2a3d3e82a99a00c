//! The NATS arguments every subcommand takes (flattened into each), and the
//! one place that turns them into a connection.

use std::path::PathBuf;

use anyhow::Context;

/// The default server when none is given (`dev` starts its own instead).
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

/// How to reach NATS and how its streams are replicated.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct NatsArgs {
    /// NATS server URL, or a comma-separated list of a cluster's seed URLs
    /// (the client learns the others from them and moves to another when one
    /// is lost). User and password or a token may ride in the URL
    /// (nats://user:pass@host:4222). Default nats://127.0.0.1:4222 (dev: a
    /// nats-server it starts itself).
    #[arg(long = "nats-url", env = "LIVEFLEET_NATS_URL")]
    pub url: Option<String>,
    /// Credentials file (user JWT and NKEY seed, as `nsc` writes it).
    #[arg(long = "nats-creds", env = "LIVEFLEET_NATS_CREDS")]
    pub creds: Option<PathBuf>,
    /// File holding an NKEY seed (SU...) to sign the connection with.
    #[arg(long = "nats-nkey", env = "LIVEFLEET_NATS_NKEY")]
    pub nkey: Option<PathBuf>,
    /// Require TLS (implied by tls:// URLs and by the certificate options).
    #[arg(long = "nats-tls", env = "LIVEFLEET_NATS_TLS")]
    pub tls: bool,
    /// CA certificate (PEM) to verify the servers with.
    #[arg(long = "nats-tls-ca", env = "LIVEFLEET_NATS_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM), for servers that verify clients.
    #[arg(
        long = "nats-tls-cert",
        env = "LIVEFLEET_NATS_TLS_CERT",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The client certificate's key (PEM).
    #[arg(
        long = "nats-tls-key",
        env = "LIVEFLEET_NATS_TLS_KEY",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Replicas of the state buckets (default: 3 in a cluster, 1 on one server).
    #[arg(long = "nats-replicas", env = "LIVEFLEET_NATS_REPLICAS")]
    pub replicas: Option<usize>,
    /// Replicas of the media stream (default: as --nats-replicas).
    #[arg(long = "nats-media-replicas", env = "LIVEFLEET_NATS_MEDIA_REPLICAS")]
    pub media_replicas: Option<usize>,
    /// Placement tags for new streams and buckets (comma-separated).
    #[arg(
        long = "nats-placement-tags",
        env = "LIVEFLEET_NATS_PLACEMENT_TAGS",
        value_delimiter = ','
    )]
    pub placement_tags: Vec<String>,
}

impl NatsArgs {
    /// The server list as given, or the default.
    pub fn url(&self) -> &str {
        self.url.as_deref().unwrap_or(DEFAULT_URL)
    }

    /// The same settings with another server list (dev's own server).
    pub fn with_url(&self, url: String) -> Self {
        Self {
            url: Some(url),
            ..self.clone()
        }
    }

    fn connect_options(&self) -> livefleet_bus::NatsConnect {
        livefleet_bus::NatsConnect {
            servers: self.url().to_owned(),
            creds: self.creds.clone(),
            nkey: self.nkey.clone(),
            tls: self.tls,
            tls_ca: self.tls_ca.clone(),
            tls_client: self.tls_cert.clone().zip(self.tls_key.clone()),
        }
    }
}

/// Connects to NATS and opens JetStream; sets the replication of every
/// stream this process opens.
pub async fn connect(
    args: &NatsArgs,
    name: &str,
) -> anyhow::Result<(async_nats::Client, async_nats::jetstream::Context)> {
    let _ = livefleet_bus::configure_replication(livefleet_bus::Replication {
        state: args.replicas,
        media: args.media_replicas,
        tags: args.placement_tags.clone(),
    });
    let url = args.url();
    let client = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        livefleet_bus::connect_with(&args.connect_options(), name),
    )
    .await
    .with_context(|| format!("NATS at {url} did not answer within 30 s (is nats-server running? start one, or use `livefleet dev` which starts its own)"))?
    .with_context(|| format!("cannot connect to NATS at {url}"))?;
    let js = livefleet_bus::jetstream(&client)
        .await
        .with_context(|| format!("JetStream is not enabled on {url} (run nats-server with -js)"))?;
    Ok((client, js))
}
