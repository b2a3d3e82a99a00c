//! Drains: an operator's request to move every channel off a worker (or to
//! let it take channels again), answered by the leader.

use livefleet_fleet::Assignment;

use super::{State, MAX_DRAIN_REQUEST_BYTES};

impl State<'_> {
    /// A drain (or undrain) request: remembered in KV, then every channel of
    /// the worker moves to others by compare-and-set (new epoch; the new
    /// worker continues the broadcast after one discontinuity).
    pub(super) async fn drain(&mut self, msg: async_nats::Message) {
        let Some(reply_to) = msg.reply.clone() else {
            return;
        };
        let reply = self.drain_reply(&msg.payload).await;
        let body = serde_json::to_vec(&reply).unwrap_or_default();
        if let Err(e) = self.leading.client.publish(reply_to, body.into()).await {
            tracing::warn!("cannot answer a drain request: {e}");
        }
    }

    pub(super) async fn drain_reply(&mut self, payload: &[u8]) -> livefleet_fleet::DrainReply {
        use livefleet_fleet::{DrainReply, DrainRequest, NotMoved};
        let refuse = |e: String| DrainReply {
            ok: false,
            error: Some(e),
            ..Default::default()
        };
        if payload.len() > MAX_DRAIN_REQUEST_BYTES {
            return refuse(format!(
                "bad drain request: more than {MAX_DRAIN_REQUEST_BYTES} bytes"
            ));
        }
        let req: DrainRequest = match serde_json::from_slice(payload) {
            Ok(r) => r,
            Err(e) => return refuse(format!("bad drain request: {e}")),
        };
        let worker = req.worker;
        let known = self.view.contains(&worker)
            || self.draining.contains(&worker)
            || self
                .current
                .values()
                .any(|a| a.worker.as_ref() == Some(&worker));
        if !known {
            return DrainReply {
                ok: false,
                error: Some(format!(
                    "no worker {worker}: no heartbeat from it, no channel on it, not drained"
                )),
                unknown_worker: true,
                ..Default::default()
            };
        }
        if req.undrain {
            self.draining.remove(&worker);
            self.view.set_draining(&worker, false);
            if let Err(e) = self.nodes.purge(worker.as_str()).await {
                tracing::warn!(%worker, "undrain not persisted: {e}");
            }
            tracing::info!(%worker, "worker takes channels again");
            return DrainReply {
                ok: true,
                ..Default::default()
            };
        }
        if let Err(e) = self.nodes.put(worker.as_str(), "draining".into()).await {
            return refuse(format!("cannot record the drain of {worker}: {e}"));
        }
        self.draining.insert(worker.clone());
        self.view.set_draining(&worker, true);
        tracing::info!(%worker, "draining worker: moving its channels");
        let mut reply = DrainReply {
            ok: true,
            ..Default::default()
        };
        let on_worker: Vec<Assignment> = self
            .current
            .values()
            .filter(|a| a.worker.as_ref() == Some(&worker))
            .cloned()
            .collect();
        for a in on_worker {
            let channel = a.channel.clone();
            let cost = match self.cost(&channel, None).await {
                Ok(c) => c,
                Err(reason) => {
                    reply.failed.push(NotMoved { channel, reason });
                    continue;
                }
            };
            let placement = match self.view.place(&channel, &cost, self.leading.config.policy) {
                Ok(p) => p,
                Err(no_fit) => {
                    reply.failed.push(NotMoved {
                        channel,
                        reason: no_fit.to_string(),
                    });
                    continue;
                }
            };
            match self
                .leading
                .assignments
                .reassign(
                    &channel,
                    a.epoch,
                    &placement.worker,
                    &format!("drain from {worker}"),
                )
                .await
            {
                Ok(next) => {
                    tracing::info!(%channel, from = %worker, to = %placement.worker, epoch = next.epoch, "channel moved by drain");
                    self.current.insert(channel.clone(), next);
                    reply.moved.push((channel, placement.worker));
                }
                Err(e) => {
                    self.view.unreserve(&channel);
                    reply.failed.push(NotMoved {
                        channel,
                        reason: e.to_string(),
                    });
                }
            }
        }
        reply
    }
}
