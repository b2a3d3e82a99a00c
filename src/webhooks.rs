//! The webhook flags `scheduler` and `dev` share, and starting delivery.

use anyhow::Context;

/// Where webhooks go (`docs/operations.md#webhooks`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct WebhookArgs {
    /// POST broadcast.started, broadcast.stopped, vod.ready, vod.failed and
    /// publish.refused events to this URL (JSON, at least once, retried for
    /// about 9 minutes).
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
    check_url(&url)?;
    let config = livefleet_scheduler::webhooks::WebhookConfig {
        url,
        secret: args.webhook_secret.filter(|s| !s.is_empty()),
    };
    let hooks = livefleet_scheduler::webhooks::spawn(js.clone(), config, urls, registry)
        .context("webhook metrics")?;
    Ok(Some(hooks))
}

/// A webhook URL must be an absolute http or https URL.
fn check_url(url: &str) -> anyhow::Result<()> {
    let parsed = url::Url::parse(url).with_context(|| format!("--webhook-url {url:?}"))?;
    anyhow::ensure!(
        matches!(parsed.scheme(), "http" | "https") && parsed.has_host(),
        "--webhook-url {url:?}: not an http or https URL"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_urls_are_taken() {
        for good in [
            "http://127.0.0.1:9000/hooks",
            "https://site.example/livefleet?x=1",
        ] {
            check_url(good).unwrap();
        }
        for bad in [
            "site.example/hooks",
            "ftp://site.example/",
            "file:///etc/passwd",
            "http://",
            " ",
        ] {
            let Err(e) = check_url(bad) else {
                panic!("{bad:?} taken")
            };
            assert!(format!("{e:#}").contains("--webhook-url"), "{bad}: {e:#}");
        }
    }
}
