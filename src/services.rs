//! Running the long-lived parts (ingest, worker, origin, metrics) inside this
//! process; shared by `livefleet dev` and the single-part subcommands.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use livefleet_bus::{ChannelRegistry, MediaPublisher, MediaStreamConfig};
use livefleet_ingest::{BusSink, IngestConfig, IngestMetrics, RegistryGate};
use livefleet_storage::{Location, Storage};
use livefleet_worker::archive::ArchiveConfig;
use livefleet_worker::channel::LiveTiming;
use livefleet_worker::service::WorkerConfig;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for {what} on {addr}"))
}

/// The RTMP ingest until `stop` is cancelled.
pub async fn ingest(
    js: async_nats::jetstream::Context,
    placement: Option<async_nats::Client>,
    listener: TcpListener,
    config: IngestConfig,
    metrics: &prometheus::Registry,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let registry = ChannelRegistry::open(&js)
        .await
        .context("opening the channel registry")?;
    let publisher = MediaPublisher::new(&js, &MediaStreamConfig::default())
        .await
        .context("opening the media stream")?;
    let metrics = IngestMetrics::new(metrics).context("registering ingest metrics")?;
    livefleet_ingest::serve(
        listener,
        config,
        Arc::new(match placement {
            Some(client) => RegistryGate::with_placement(registry, client),
            None => RegistryGate::new(registry),
        }),
        Arc::new(BusSink::new(publisher, js).with_metrics(metrics.clone())),
        metrics,
        async move { stop.cancelled().await },
    )
    .await
    .context("RTMP ingest")
}

/// A worker writing to a local directory until `stop` is cancelled.
pub async fn worker(
    js: async_nats::jetstream::Context,
    id: String,
    storage: Arc<dyn Storage>,
    timing: LiveTiming,
    archive: ArchiveConfig,
    metrics: prometheus::Registry,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    livefleet_worker::service::run(
        js,
        WorkerConfig {
            id,
            timing,
            archive,
        },
        storage,
        metrics,
        async move { stop.cancelled().await },
    )
    .await
    .context("worker")
}

/// Opens the storage a worker writes to, naming it in the error.
pub async fn open_storage(location: &Location) -> anyhow::Result<Arc<dyn Storage>> {
    location
        .open()
        .await
        .with_context(|| format!("storage {location}"))
}

impl WorkerFile {
    /// Where the worker writes: the `storage` key, else the `--data` directory.
    pub fn location(&self, data: &std::path::Path) -> anyhow::Result<Location> {
        match &self.storage {
            Some(s) => Ok(Location::parse(s).context("storage")?),
            None => Ok(Location::Local(data.to_path_buf())),
        }
    }
}

/// A fleet worker's `--config` file.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerFile {
    /// Pixels per second libx264 encodes in real time here (default: 12 Mpx/s per core).
    pub capacity_cpu_pps: Option<u64>,
    /// Pixels per second NVENC encodes in real time here.
    pub capacity_nvenc_pps: Option<u64>,
    /// Concurrent NVENC sessions the GPU allows.
    pub nvenc_session_limit: Option<u32>,
    /// GPU model, reported in heartbeats.
    pub gpu_model: Option<String>,
    /// Where segments and manifests go: a directory or `s3://BUCKET/PREFIX`
    /// (default: the `--data` directory).
    pub storage: Option<String>,
    /// Every broadcast kept as VOD under `vod/<channel>/<broadcast>/`.
    pub archive: ArchiveConfig,
}

/// A fleet worker: runs the channels the scheduler assigns to it.
#[allow(clippy::too_many_arguments)]
pub async fn fleet_worker(
    client: async_nats::Client,
    js: async_nats::jetstream::Context,
    id: String,
    storage: Location,
    timing: LiveTiming,
    file: WorkerFile,
    metrics: prometheus::Registry,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let storage = open_storage(&storage).await?;
    let defaults = livefleet_worker::fleet::NodeCapacity::cpu_default();
    let gpu = match tokio::task::spawn_blocking(livefleet_worker::nvml::probe).await? {
        Ok(g) => {
            tracing::info!(model = %g.model, sessions_open = g.encoder_sessions, "GPU found through NVML");
            Some(g)
        }
        Err(reason) => {
            tracing::info!(%reason, "no GPU information from NVML");
            None
        }
    };
    let capacity = livefleet_worker::fleet::NodeCapacity {
        cpu_pps: file.capacity_cpu_pps.unwrap_or(defaults.cpu_pps),
        nvenc_pps: file.capacity_nvenc_pps.unwrap_or(0),
        nvenc_session_limit: file
            .nvenc_session_limit
            .or(gpu.as_ref().and_then(|g| g.session_limit)),
        gpu_model: file.gpu_model.or(gpu.map(|g| g.model)),
    };
    livefleet_worker::fleet::run(
        client,
        js,
        WorkerConfig {
            id,
            timing,
            archive: file.archive,
        },
        capacity,
        storage,
        metrics,
        async move { stop.cancelled().await },
    )
    .await
    .context("worker")
}

/// `/metrics` (and `/healthz`) on their own port, for processes without the origin.
pub async fn metrics_endpoint(
    listener: TcpListener,
    registry: prometheus::Registry,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let app = livefleet_http::metrics_router(registry);
    livefleet_http::serve(
        listener,
        app,
        livefleet_http::HttpLimits::default(),
        async move { stop.cancelled().await },
    )
    .await
    .context("metrics endpoint")
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn termination() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// The chat relay on `listener` until `stop` is cancelled; its metrics go
/// into `registry` (dev's shared one, so its /metrics shows them too).
pub async fn chat(
    (client, js): (async_nats::Client, async_nats::jetstream::Context),
    listener: TcpListener,
    config: livefleet_chat::ChatConfig,
    key: Option<livefleet_chat::TokenKey>,
    storage: std::sync::Arc<dyn livefleet_storage::Storage>,
    registry: prometheus::Registry,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let metrics = livefleet_chat::ChatMetrics::register(&registry)?;
    let limits = livefleet_http::HttpLimits {
        max_connections: config.max_connections + 64,
        ..livefleet_http::HttpLimits::default()
    };
    let relay = livefleet_chat::Relay::start(client, js.clone(), config, key, metrics).await?;
    let archive = tokio::spawn(livefleet_chat::archive::run(relay.clone(), js, storage));
    tracing::info!(listen = %listener.local_addr()?, relay = %relay.id, "chat relay listening");
    let router = livefleet_chat::http::router(relay, registry);
    let served = livefleet_http::serve(
        listener,
        router,
        limits,
        async move { stop.cancelled().await },
    )
    .await
    .context("chat relay");
    archive.abort();
    served
}
