//! `livefleet origin`: serves a storage directory over HTTP (playlists,
//! segments, the viewer page and /metrics), for a CDN to pull from.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use livefleet_origin::OriginConfig;
use livefleet_storage::Location;

use crate::services;

/// The HTTP origin on its own, over the directory the workers write.
#[derive(clap::Args)]
pub struct OriginArgs {
    /// Storage directory (the workers' `--data`).
    #[arg(long, default_value = "livefleet-data")]
    pub data: PathBuf,
    /// Serve from this store instead: s3://BUCKET/PREFIX (or a directory).
    #[arg(long)]
    pub storage: Option<String>,
    /// HTTP listen address (origin, viewer page, /metrics).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Channel the viewer page plays when none is named.
    #[arg(long, default_value = "demo")]
    pub channel: String,
    /// The chat relay's WebSocket URL for the viewer page's chat panel.
    #[arg(long)]
    pub chat_url: Option<String>,
}

pub async fn run(a: OriginArgs) -> anyhow::Result<()> {
    let (root, store) = match a.storage.as_deref().map(Location::parse).transpose() {
        Err(e) => anyhow::bail!("--storage: {e}"),
        Ok(Some(Location::Local(dir))) => (dir, None),
        Ok(Some(s3)) => (a.data.clone(), Some(services::open_storage(&s3).await?)),
        Ok(None) => (a.data.clone(), None),
    };
    let listener = services::bind(a.listen, "HTTP").await?;
    tracing::info!(http = %listener.local_addr()?, data = %a.data.display(), storage = ?a.storage, "origin listening");
    let router = livefleet_origin::router(
        OriginConfig {
            root,
            store,
            assets: None,
            default_channel: a.channel,
            chat_url: a.chat_url,
        },
        prometheus::Registry::new(),
    );
    livefleet_origin::serve(listener, router, services::termination())
        .await
        .context("HTTP origin")
}
