//! `livefleet ingest`: the RTMP ingest on its own.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::{config, nats, services};

/// The RTMP ingest on its own.
#[derive(clap::Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub nats: crate::nats::NatsArgs,
    /// RTMP listen address.
    #[arg(long, default_value = "0.0.0.0:1935")]
    pub rtmp: SocketAddr,
    /// Ingest configuration (YAML; every key in docs/config/ingest.yaml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where /metrics is served.
    #[arg(long, default_value = "127.0.0.1:9101")]
    pub metrics: SocketAddr,
    /// Accept every registered channel without asking a scheduler
    /// (a single worker started with `--all-channels` runs them).
    #[arg(long)]
    pub no_scheduler: bool,
}

pub async fn run(a: IngestArgs) -> anyhow::Result<()> {
    let config: livefleet_ingest::IngestConfig = config::load(a.config.as_deref())?;
    let (client, js) = nats::connect(&a.nats, "livefleet-ingest").await?;
    let _upkeep = livefleet_bus::spawn_upkeep(js.clone());
    let placement = (!a.no_scheduler).then_some(client);
    let registry = prometheus::Registry::new();
    let stop = tokio_util::sync::CancellationToken::new();
    let listener = services::bind(a.rtmp, "RTMP").await?;
    let metrics_listener = services::bind(a.metrics, "metrics").await?;
    tracing::info!(rtmp = %listener.local_addr()?, metrics = %metrics_listener.local_addr()?, "ingest listening");
    let m = tokio::spawn(services::metrics_endpoint(
        metrics_listener,
        registry.clone(),
        stop.clone(),
    ));
    let s = stop.clone();
    tokio::spawn(async move {
        services::termination().await;
        s.cancel();
    });
    services::ingest(js, placement, listener, config, &registry, stop.clone()).await?;
    stop.cancel();
    let _ = m.await;
    Ok(())
}
