//! The viewer page: a player for one channel, with a chat area beside it.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::assets::NOT_INSTALLED;
use crate::{Origin, PlayerAssets};

const TEMPLATE: &str = include_str!("../assets/index.html");
const CONFIG_SLOT: &str = "/*LIVEFLEET_CONFIG*/null";

/// The page with the origin's settings in `window.livefleetConfig`.
pub(crate) fn render(
    default_channel: &str,
    chat_url: Option<&str>,
    assets: &PlayerAssets,
) -> String {
    let config = serde_json::json!({
        "defaultChannel": default_channel,
        "chat": if assets.chat.is_some() { chat_url } else { None },
        "hls": assets.hls.is_some(),
        "dash": assets.dash.is_some(),
        "notInstalled": if assets.hls.is_some() { "" } else { NOT_INSTALLED },
    });
    // Inside a <script> element, `<` could close it; JSON allows escaping it.
    let config = config.to_string().replace('<', "\\u003c");
    TEMPLATE.replacen(CONFIG_SLOT, &config, 1)
}

/// `GET /`.
pub(crate) async fn viewer(State(origin): State<Arc<Origin>>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        origin.page.clone(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_injected_and_escaped() {
        assert!(TEMPLATE.contains(CONFIG_SLOT));
        let page = render(
            "</script><b>",
            Some("ws://x/connection/websocket"),
            &PlayerAssets::default(),
        );
        assert!(!page.contains(CONFIG_SLOT));
        assert!(page.contains(r#""defaultChannel":"\u003c/script>\u003cb>""#));
        assert!(page.contains(NOT_INSTALLED));
        // Without centrifuge-js installed, no chat panel is offered.
        assert!(page.contains(r#""chat":null"#));
    }
}
