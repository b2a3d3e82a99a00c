//! Subscriptions and history: what the connection reads.

use serde_json::json;

use super::{Conn, Subscription};
use crate::history::MAX_READ;
use crate::hub::Member;
use crate::protocol::{self, error};
use livefleet_base::ChannelName;

impl Conn {
    pub(super) async fn subscribe(
        &mut self,
        id: u32,
        req: protocol::SubscribeRequest,
    ) -> Result<String, u32> {
        let channel = self.readable(&req.channel).await?;
        if self.subs.contains_key(&channel) {
            return Err(error::ALREADY_SUBSCRIBED);
        }
        if self.subs.len() >= self.relay.config.max_subscriptions {
            return Err(error::LIMIT_EXCEEDED);
        }
        let member = Member {
            tx: self.tx.clone(),
            kick: self.kick.clone(),
            user: self.info().user,
            join_leave: req.join_leave,
        };
        self.relay
            .hub
            .join(&channel, self.id, member)
            .await
            .map_err(|e| {
                tracing::warn!(%channel, error = %e, "cannot subscribe");
                error::INTERNAL
            })?;
        self.relay.metrics.subscriptions.inc();
        // Registered before the position is read: nothing stored from here on is missed.
        self.subs
            .insert(channel.clone(), Subscription { offset: u64::MAX });
        let answer = self.subscribe_result(&channel, &req).await;
        match answer {
            Ok((result, offset)) => {
                if let Some(s) = self.subs.get_mut(&channel) {
                    s.offset = offset;
                }
                if self.identity.is_some() {
                    self.relay
                        .hub
                        .announce(&channel, "join", &self.info())
                        .await;
                }
                Ok(protocol::reply(id, "subscribe", &result))
            }
            Err(code) => {
                self.left(&channel).await;
                Err(code)
            }
        }
    }

    pub(super) async fn subscribe_result(
        &self,
        channel: &ChannelName,
        req: &protocol::SubscribeRequest,
    ) -> Result<(serde_json::Value, u64), u32> {
        let position = self.relay.history.position(channel).await.map_err(|e| {
            tracing::warn!(%channel, error = %e, "cannot read the history position");
            error::INTERNAL
        })?;
        let mut result = json!({
            "recoverable": true,
            "epoch": position.epoch,
            "offset": position.last,
            "positioned": true,
        });
        if !req.recover {
            return Ok((result, position.last));
        }
        let same_epoch = req.epoch == position.epoch;
        let missed = position.last.saturating_sub(req.offset);
        let kept = req.offset + 1 >= position.first || req.offset >= position.last;
        let recovered =
            same_epoch && req.offset <= position.last && kept && missed as usize <= MAX_READ;
        let mut publications = Vec::new();
        if recovered && missed > 0 {
            publications = self
                .relay
                .history
                .read(channel, req.offset + 1, position.last, MAX_READ)
                .await
                .map_err(|e| {
                    tracing::warn!(%channel, error = %e, "cannot read the history to recover");
                    error::INTERNAL
                })?;
        }
        tracing::debug!(%channel, recovered, missed, "subscribed with recovery");
        result["was_recovering"] = json!(true);
        result["recovered"] = json!(recovered);
        result["publications"] = serde_json::to_value(&publications).unwrap_or_default();
        Ok((result, position.last))
    }

    pub(super) async fn left(&mut self, channel: &ChannelName) {
        if self.subs.remove(channel).is_some() {
            self.relay.hub.leave(channel, self.id).await;
            self.relay.metrics.subscriptions.dec();
            if self.identity.is_some() {
                self.relay
                    .hub
                    .announce(channel, "leave", &self.info())
                    .await;
            }
        }
    }

    pub(super) async fn unsubscribe(&mut self, id: u32, name: &str) -> Result<String, u32> {
        if let Ok(channel) = ChannelName::new(name) {
            self.left(&channel).await;
        }
        Ok(protocol::reply(id, "unsubscribe", &json!({})))
    }

    pub(super) async fn history(
        &self,
        id: u32,
        req: protocol::HistoryRequest,
    ) -> Result<String, u32> {
        let channel = self.readable(&req.channel).await?;
        let position = self
            .relay
            .history
            .position(&channel)
            .await
            .map_err(|_| error::INTERNAL)?;
        let limit = if req.limit < 0 {
            MAX_READ
        } else {
            (req.limit as usize).min(MAX_READ)
        };
        if let Some(since) = &req.since {
            if since.epoch != position.epoch {
                return Err(error::UNRECOVERABLE_POSITION);
            }
        }
        let first = position.first.max(1);
        let (from, to) = if req.reverse {
            let to = req.since.as_ref().map_or(position.last, |s| {
                s.offset.saturating_sub(1).min(position.last)
            });
            (
                to.saturating_sub(limit as u64).saturating_add(1).max(first),
                to,
            )
        } else {
            let from = req
                .since
                .as_ref()
                .map_or(first, |s| s.offset + 1)
                .max(first);
            (
                from,
                from.saturating_add(limit as u64)
                    .saturating_sub(1)
                    .min(position.last),
            )
        };
        let mut publications = if limit == 0 || position.last == 0 || from > to {
            Vec::new()
        } else {
            self.relay
                .history
                .read(&channel, from, to, limit)
                .await
                .map_err(|e| {
                    tracing::warn!(%channel, error = %e, "cannot read the history");
                    error::INTERNAL
                })?
        };
        if req.reverse {
            publications.reverse();
        }
        Ok(protocol::reply(
            id,
            "history",
            &json!({"publications": publications, "epoch": position.epoch, "offset": position.last}),
        ))
    }
}
