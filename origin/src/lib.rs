//! The HTTP origin: serves what the workers wrote to the store (the local
//! storage directory, or any [`Storage`] such as an S3 bucket), the viewer
//! page, the player scripts, and the process metrics.
//!
//! ```text
//! worker -> StorageWriter -> LocalDir (root) | S3 bucket <- origin <- CDN / players
//! ```
//!
//! It is the origin of the embedded system (`livefleet dev`) and the CDN
//! origin of small set-ups. Routes:
//!
//! - `GET|HEAD /live/...`, `/vod/...`: objects from the storage root, with the
//!   `Content-Type` and `Cache-Control` of [`livefleet_storage::keys`],
//!   `Access-Control-Allow-Origin: *`, single byte ranges, and `ETag` /
//!   `Last-Modified` answering conditional requests with `304`
//!   (`validators`). Keys are
//!   checked with [`livefleet_storage::validate_key`], so nothing outside
//!   the root and no `.tmp-*` file in progress is ever served (404).
//! - `GET /`: the viewer page (`?channel=` picks the channel).
//! - `GET /assets/hls.min.js`, `/assets/dash.all.min.js`: the players from
//!   the npm packages (see [`OriginConfig::assets`]).
//! - `GET /metrics`: Prometheus text format of the process registry.
//! - `GET /healthz`: `ok`.

mod assets;
mod files;
mod metrics;
mod page;
mod validators;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use livefleet_storage::Storage;
use tower_http::cors::{Any, CorsLayer};

pub use assets::PlayerAssets;
pub use metrics::OriginMetrics;

/// Settings of the origin.
#[derive(Clone)]
pub struct OriginConfig {
    /// The storage directory (the root of a [`livefleet_storage::LocalDir`]).
    pub root: PathBuf,
    /// Serve objects from this store instead of `root` (an S3 bucket): each
    /// object is read whole, then sent.
    pub store: Option<Arc<dyn Storage>>,
    /// A directory holding `hls.min.js` and `dash.all.min.js`. When `None`,
    /// the players are looked up in `node_modules` (installed by `npm ci`
    /// from the repository's `package.json`) in the current directory, the
    /// executable's directory, their ancestors, and the source checkout the
    /// origin was built from.
    pub assets: Option<PathBuf>,
    /// The channel the viewer page plays when the URL names none.
    pub default_channel: String,
    /// The chat relay's WebSocket URL for the viewer page's chat panel
    /// (`ws://host:port/connection/websocket`); no chat panel without one.
    pub chat_url: Option<String>,
}

impl OriginConfig {
    /// Serves `root`, finds the players in `node_modules`, and plays `demo`
    /// by default.
    pub fn new(root: PathBuf) -> Self {
        OriginConfig {
            root,
            store: None,
            assets: None,
            default_channel: "demo".to_owned(),
            chat_url: None,
        }
    }
}

impl std::fmt::Debug for OriginConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginConfig")
            .field("root", &self.root)
            .field("store", &self.store.as_ref().map(|_| "Storage"))
            .field("assets", &self.assets)
            .field("default_channel", &self.default_channel)
            .field("chat_url", &self.chat_url)
            .finish()
    }
}

/// What every request handler shares.
pub(crate) struct Origin {
    pub(crate) root: PathBuf,
    pub(crate) store: Option<Arc<dyn Storage>>,
    pub(crate) page: String,
    pub(crate) assets: PlayerAssets,
    pub(crate) registry: prometheus::Registry,
}

/// Builds the origin's routes. Origin metrics are registered in `registry`,
/// and `/metrics` exposes everything in it (the whole process shares one
/// registry). Registering twice in one registry is logged and the second
/// origin's counters are then not exported.
pub fn router(config: OriginConfig, registry: prometheus::Registry) -> Router {
    let metrics = match OriginMetrics::register(&registry) {
        Ok(metrics) => metrics,
        Err(error) => {
            tracing::warn!(%error, "origin metrics are not exported (already registered?)");
            OriginMetrics::unregistered()
        }
    };
    let assets = PlayerAssets::locate(config.assets.as_deref());
    assets.log_missing();
    let page = page::render(&config.default_channel, config.chat_url.as_deref(), &assets);
    let origin = Arc::new(Origin {
        root: config.root,
        store: config.store,
        page,
        assets,
        registry,
    });

    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
        .allow_headers(Any)
        .expose_headers([
            header::CONTENT_LENGTH,
            header::CONTENT_RANGE,
            header::ACCEPT_RANGES,
        ])
        // The allowed origin is the constant `*`, so responses do not vary
        // with the request's Origin; no `Vary` header keeps CDN caches whole.
        .vary([] as [HeaderName; 0]);

    Router::new()
        .route("/", get(page::viewer))
        .route("/healthz", get(|| async { "ok" }))
        .route("/time", get(time))
        .route("/metrics", get(metrics::exposition))
        .route("/assets/{file}", get(assets::serve))
        .route("/live/{*path}", get(files::live))
        .route("/vod/{*path}", get(files::vod))
        .fallback(|| async { not_found() })
        .with_state(origin)
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::count,
        ))
        .layer(cors)
}

/// The origin's clock (`2026-12-01T18:00:00.123Z`), the MPD's
/// `urn:mpeg:dash:utc:http-iso:2014` time source; never cached.
async fn time() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        livefleet_base::clock::iso8601(livefleet_base::now_unix_ms()),
    )
        .into_response()
}

/// A 404 that caches (and CDNs) must not keep: a segment asked for a moment
/// too early exists a moment later.
pub(crate) fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))],
        "not found\n",
    )
        .into_response()
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops
/// accepting connections and waits for the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "origin listening");
    }
    livefleet_http::serve(
        listener,
        router,
        livefleet_http::HttpLimits::default(),
        shutdown,
    )
    .await
}
