//! Publishing and the moderators' RPCs: what the connection writes.

use std::time::Instant;

use livefleet_base::now_unix_ms;
use serde_json::json;

use super::{Conn, FLOOD};
use crate::limits::TokenBucket;
use crate::moderation::ModerationError;
use crate::protocol::{self, disconnect, error};

impl Conn {
    pub(super) async fn publish(
        &mut self,
        id: u32,
        name: &str,
        data: &str,
    ) -> Result<Option<String>, u16> {
        let relay = self.relay.clone();
        let refused = |code: u32| Ok(Some(protocol::error_reply(id, code)));
        let Some(who) = self.identity.clone() else {
            relay.metrics.message("anonymous");
            return refused(error::PERMISSION_DENIED);
        };
        if who.expires.is_some_and(|exp| exp <= now_unix_ms() / 1000) {
            return refused(error::TOKEN_EXPIRED);
        }
        let channel = match relay.channel(name).await {
            Ok(c) => c,
            Err(code) => {
                relay.metrics.message("unknown_channel");
                return refused(code);
            }
        };
        let draft = match crate::message::parse_draft(data, relay.config.max_message_chars) {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(%channel, user = %who.user, error = %e, "message refused");
                relay.metrics.message("invalid");
                return refused(error::BAD_REQUEST);
            }
        };
        let (rate, _) = relay.config.rules(channel.as_str());
        let bucket = self
            .buckets
            .entry(channel.clone())
            .or_insert_with(|| TokenBucket::new(rate.messages, rate.per_s));
        if !bucket.take(Instant::now()) {
            relay.metrics.message("rate_limited");
            self.refused_in_a_row += 1;
            if self.refused_in_a_row >= FLOOD {
                tracing::info!(%channel, user = %who.user, "flooding; disconnecting");
                return Err(disconnect::TOO_MANY_REQUESTS);
            }
            return refused(error::TOO_MANY_REQUESTS);
        }
        match relay.publish(&who, &self.client, &channel, draft).await {
            Ok(_) => {
                self.refused_in_a_row = 0;
                Ok(Some(protocol::reply(id, "publish", &json!({}))))
            }
            Err(code) => refused(code),
        }
    }
    pub(super) async fn rpc(&self, id: u32, method: &str, data: &str) -> Result<String, u32> {
        #[derive(serde::Deserialize)]
        struct Args {
            channel: String,
            #[serde(default)]
            id: String,
            #[serde(default)]
            user: String,
            seconds: Option<u64>,
            #[serde(default)]
            reason: String,
        }
        if !matches!(method, "delete" | "ban" | "timeout" | "unban") {
            return Err(error::METHOD_NOT_FOUND);
        }
        let Some(moderator) = self.identity.as_ref().filter(|i| i.moderator) else {
            return Err(error::PERMISSION_DENIED);
        };
        let args: Args = serde_json::from_str(data).map_err(|_| error::BAD_REQUEST)?;
        let channel = self.relay.channel(&args.channel).await?;
        let relay = &self.relay;
        match method {
            "delete" => {
                relay
                    .delete_message(&channel, &args.id, &moderator.user)
                    .await?
            }
            "ban" | "timeout" => {
                let seconds = if method == "timeout" {
                    Some(args.seconds.unwrap_or(600))
                } else {
                    args.seconds
                };
                relay
                    .moderation
                    .ban(&channel, &args.user, seconds, &moderator.user, &args.reason)
                    .await
                    .map_err(|e| match e {
                        ModerationError::BadUser => error::BAD_REQUEST,
                        e => {
                            tracing::warn!(%channel, error = %e, "ban not stored");
                            error::INTERNAL
                        }
                    })?;
                tracing::info!(%channel, user = %args.user, ?seconds, moderator = %moderator.user, "user banned");
            }
            _ => relay
                .moderation
                .unban(&channel, &args.user)
                .await
                .map_err(|e| {
                    tracing::warn!(%channel, error = %e, "ban not lifted");
                    error::INTERNAL
                })?,
        }
        Ok(protocol::reply(id, "rpc", &json!({"data": {"ok": true}})))
    }
}
