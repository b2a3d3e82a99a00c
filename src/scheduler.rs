//! `livefleet scheduler`: a scheduler replica, and its admin API.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;

use crate::{config, nats, services};

/// A scheduler replica: places channels on workers, fails them over; run two or more for HA.
#[derive(clap::Args)]
pub struct SchedulerArgs {
    #[command(flatten)]
    pub nats: crate::nats::NatsArgs,
    /// Scheduler configuration (YAML: replica_id, heartbeat_timeout, policy, lease_ttl).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// This replica's id in the leader lease (default: scheduler-<pid>).
    #[arg(long)]
    pub id: Option<String>,
    /// Where /metrics is served.
    #[arg(long, default_value = "127.0.0.1:9102")]
    pub metrics: SocketAddr,
    /// Admin HTTP API address (docs/api/openapi.yaml); off without a token.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub http: SocketAddr,
    /// Bearer token of the admin API.
    #[arg(long, env = "LIVEFLEET_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// RTMP URL base the API hands out (`<base>/<stream key>`).
    #[arg(long, default_value = "rtmp://127.0.0.1:1935/live")]
    pub rtmp_base_url: String,
    /// Playback URL base the API hands out (`<base>/<channel>/master.m3u8`).
    #[arg(long, default_value = "http://127.0.0.1:8080/live")]
    pub playback_base_url: String,
    /// VOD URL base the API hands out (`<base>/<channel>/<broadcast>/master.m3u8`;
    /// default: the playback base with its last `/live` made `/vod`).
    #[arg(long)]
    pub vod_base_url: Option<String>,
    #[command(flatten)]
    pub webhooks: crate::webhooks::WebhookArgs,
}

pub async fn run(a: SchedulerArgs) -> anyhow::Result<()> {
    let mut cfg: livefleet_scheduler::SchedulerConfig = config::load(a.config.as_deref())?;
    if let Some(id) = a.id {
        cfg.replica_id = id;
    } else if a.config.is_none() {
        cfg.replica_id = format!("scheduler-{}", std::process::id());
    }
    let (client, js) = nats::connect(&a.nats, &format!("livefleet-{}", cfg.replica_id)).await?;
    let _upkeep = livefleet_bus::spawn_upkeep(js.clone());
    let registry = prometheus::Registry::new();
    let stop = tokio_util::sync::CancellationToken::new();
    let metrics_listener = services::bind(a.metrics, "metrics").await?;
    tracing::info!(replica = %cfg.replica_id, metrics = %metrics_listener.local_addr()?, "scheduler starting");
    let m = tokio::spawn(services::metrics_endpoint(
        metrics_listener,
        registry.clone(),
        stop.clone(),
    ));
    let urls = livefleet_scheduler::webhooks::Urls {
        vod_base: match &a.vod_base_url {
            Some(vod) => vod.trim_end_matches('/').to_owned(),
            None => livefleet_scheduler::admin_archive::vod_base_for(&a.playback_base_url),
        },
        playback_base: a.playback_base_url.trim_end_matches('/').to_owned(),
    };
    let webhooks = crate::webhooks::start(&js, a.webhooks, urls.clone(), &registry)?;
    let api = match a.admin_token.filter(|t| !t.is_empty()) {
        Some(token) => {
            let mut state = livefleet_scheduler::admin::AdminState::open(
                client.clone(),
                token,
                a.rtmp_base_url,
                a.playback_base_url,
                crate::chat::key(&livefleet_chat::ChatConfig::default())?,
            )
            .await
            .context("admin API")?;
            state.vod_base_url = urls.vod_base.clone();
            state.webhooks = webhooks.as_ref().map(|w| w.pinger());
            let listener = services::bind(a.http, "the admin API").await?;
            tracing::info!(address = %listener.local_addr()?, "admin API listening");
            let s = stop.clone();
            Some(tokio::spawn(livefleet_scheduler::admin::serve(
                listener,
                state,
                async move { s.cancelled().await },
            )))
        }
        None => {
            tracing::info!(
                "admin API off: set LIVEFLEET_ADMIN_TOKEN (or --admin-token) to serve it"
            );
            None
        }
    };
    let s = stop.clone();
    livefleet_scheduler::run(client, cfg, &registry, async move {
        services::termination().await;
        s.cancel();
    })
    .await
    .context("scheduler")?;
    stop.cancel();
    let _ = m.await;
    if let Some(api) = api {
        let _ = api.await;
    }
    Ok(())
}
