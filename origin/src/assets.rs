//! The viewer page's scripts: the players and the chat client (hls.js,
//! dash.js, centrifuge-js), served from the npm packages, and the page's own
//! storyboard scrubber, built into the binary.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::{not_found, Origin};
use livefleet_base::content_type::content_type_for_key;

/// Where the file of each player lives inside `node_modules`, newest
/// package layout first (dash.js 5 moved its bundles under `modern/umd`).
const HLS_IN_NODE_MODULES: &[&str] = &["hls.js/dist/hls.min.js"];
const DASH_IN_NODE_MODULES: &[&str] = &[
    "dashjs/dist/modern/umd/dash.all.min.js",
    "dashjs/dist/dash.all.min.js",
];
const CHAT_IN_NODE_MODULES: &[&str] = &["centrifuge/dist/centrifuge.js"];

/// The file names under `/assets/` (and in an explicit assets directory).
pub(crate) const HLS_FILE: &str = "hls.min.js";
pub(crate) const DASH_FILE: &str = "dash.all.min.js";
pub(crate) const CHAT_FILE: &str = "centrifuge.js";
/// The page's storyboard scrubber, versioned with the page (so never cached
/// longer than it).
pub(crate) const STORYBOARD_FILE: &str = "storyboard.js";
const STORYBOARD_SCRIPT: &str = include_str!("../assets/storyboard.js");

/// The message shown and logged when the players are missing.
pub(crate) const NOT_INSTALLED: &str = "hls.js is not installed: run `npm ci` in the repository";

/// The player scripts found on this machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlayerAssets {
    /// `hls.min.js`, if found.
    pub hls: Option<PathBuf>,
    /// `dash.all.min.js`, if found.
    pub dash: Option<PathBuf>,
    /// `centrifuge.js` (the chat client), if found.
    pub chat: Option<PathBuf>,
}

fn find_in(dir: &Path, relative: &[&str]) -> Option<PathBuf> {
    relative
        .iter()
        .map(|r| dir.join(r))
        .find(|candidate| candidate.is_file())
}

impl PlayerAssets {
    /// Looks for the players: in `explicit` when given (the files directly
    /// in it, or in it as a `node_modules` directory); otherwise in a
    /// `node_modules` directory in the current directory, the executable's
    /// directory, or one of their ancestors, and last in the source checkout
    /// this crate was built from.
    pub fn locate(explicit: Option<&Path>) -> Self {
        if let Some(dir) = explicit {
            return PlayerAssets {
                hls: find_in(dir, &[HLS_FILE]).or_else(|| find_in(dir, HLS_IN_NODE_MODULES)),
                dash: find_in(dir, &[DASH_FILE]).or_else(|| find_in(dir, DASH_IN_NODE_MODULES)),
                chat: find_in(dir, &[CHAT_FILE]).or_else(|| find_in(dir, CHAT_IN_NODE_MODULES)),
            };
        }
        let mut starts = Vec::new();
        if let Ok(dir) = std::env::current_dir() {
            starts.push(dir);
        }
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
        {
            starts.push(dir);
        }
        starts.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        let node_modules: Vec<PathBuf> = starts
            .iter()
            .flat_map(|start| start.ancestors())
            .map(|dir| dir.join("node_modules"))
            .filter(|dir| dir.is_dir())
            .collect();
        PlayerAssets {
            hls: node_modules
                .iter()
                .find_map(|dir| find_in(dir, HLS_IN_NODE_MODULES)),
            dash: node_modules
                .iter()
                .find_map(|dir| find_in(dir, DASH_IN_NODE_MODULES)),
            chat: node_modules
                .iter()
                .find_map(|dir| find_in(dir, CHAT_IN_NODE_MODULES)),
        }
    }

    /// Logs where the players are, or that they are missing (once per call;
    /// the router calls it once).
    pub fn log_missing(&self) {
        match (&self.hls, &self.dash) {
            (Some(hls), Some(dash)) => {
                tracing::debug!(hls = %hls.display(), dash = %dash.display(), "player scripts found");
            }
            (None, _) => tracing::warn!("{NOT_INSTALLED}; the viewer page cannot play"),
            (Some(_), None) => {
                tracing::warn!("dash.js is not installed: run `npm ci` in the repository; the viewer page plays HLS only")
            }
        }
    }
}

/// `GET /assets/{file}`.
pub(crate) async fn serve(
    State(origin): State<Arc<Origin>>,
    UrlPath(file): UrlPath<String>,
) -> Response {
    let script = content_type_for_key(STORYBOARD_FILE);
    let (path, package) = match file.as_str() {
        STORYBOARD_FILE => {
            return (
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static(script)),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                ],
                STORYBOARD_SCRIPT,
            )
                .into_response()
        }
        HLS_FILE => (&origin.assets.hls, "hls.js"),
        DASH_FILE => (&origin.assets.dash, "dash.js"),
        CHAT_FILE => (&origin.assets.chat, "centrifuge"),
        _ => return not_found(),
    };
    let Some(path) = path else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))],
            format!("{package} is not installed: run `npm ci` in the repository\n"),
        )
            .into_response();
    };
    match tokio::fs::read(path).await {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(script)),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=3600"),
                ),
            ],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "could not read player script");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not read player script\n",
            )
                .into_response()
        }
    }
}
