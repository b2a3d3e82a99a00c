//! The webhook flags `scheduler` and `dev` share, and starting delivery.

use anyhow::Context;

/// Where webhooks go (`docs/operations.md#webhooks`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct WebhookArgs {
    /// POST broadcast.started, broadcast.stopped, vod.ready, vod.failed and
    /// publish.refused
    /// events to this URL (JSON, at least once, retried for about 9 minutes).
    #[arg(long, env = "LIVEFLEET_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
    /// Signs every webhook (`Livefleet-Signature: t=<unix s>,v1=<hex
    /// HMAC-SHA256 of "<t>.<body>">`).
    #[arg(long, env = "LIVEFLEET_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
}

/// Starts delivering webhooks when a URL is set; `urls` are the public
/// playback bases the events name.
pub fn start(
    js: &async_nats::jetstream::Context,
    args: WebhookArgs,
    urls: livefleet_scheduler::webhooks::Urls,
    registry: &prometheus::Registry,
) -> anyhow::Result<Option<livefleet_scheduler::webhooks::Webhooks>> {
    let Some(url) = args.webhook_url.filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let parsed = url::Url::parse(&url).with_context(|| format!("--webhook-url {url:?}"))?;
    anyhow::ensure!(
        matches!(parsed.scheme(), "http" | "https"),
        "--webhook-url {url:?}: not an http or https URL"
    );
    let config = livefleet_scheduler::webhooks::WebhookConfig {
        url,
        secret: args.webhook_secret.filter(|s| !s.is_empty()),
    };
    let hooks = livefleet_scheduler::webhooks::spawn(js.clone(), config, urls, registry)
        .context("webhook metrics")?;
    Ok(Some(hooks))
}
