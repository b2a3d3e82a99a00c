//! Placement requests: the ingest asks where a channel should run.

use std::time::Instant;

use livefleet_fleet::{Assignment, PlaceReply, PlaceRequest, MAX_PLACE_REQUEST_BYTES};

use super::State;

impl State<'_> {
    pub(super) async fn request(&mut self, msg: async_nats::Message) {
        let started = Instant::now();
        let Some(reply_to) = msg.reply.clone() else {
            tracing::debug!("placement request without a reply subject, ignored");
            return;
        };
        let (reply, result) = self.answer(&msg.payload).await;
        self.leading
            .metrics
            .placements
            .with_label_values(&[result])
            .inc();
        let body = serde_json::to_vec(&reply).unwrap_or_default();
        if let Err(e) = self.leading.client.publish(reply_to, body.into()).await {
            tracing::warn!("cannot answer a placement request: {e}");
        }
        self.leading
            .metrics
            .placement_duration
            .observe(started.elapsed().as_secs_f64());
    }

    pub(super) async fn answer(&mut self, payload: &[u8]) -> (PlaceReply, &'static str) {
        if payload.len() > MAX_PLACE_REQUEST_BYTES {
            return (
                PlaceReply::refused(format!(
                    "bad placement request: more than {MAX_PLACE_REQUEST_BYTES} bytes"
                )),
                "bad_request",
            );
        }
        let req: PlaceRequest = match serde_json::from_slice(payload) {
            Ok(r) => r,
            Err(e) => {
                return (
                    PlaceReply::refused(format!("bad placement request: {e}")),
                    "bad_request",
                )
            }
        };
        let channel = req.channel;
        // What memory holds may be stale: released, or lost with a bus that
        // lost its storage. The bucket says.
        let previous = if self.current.contains_key(&channel) {
            match self.reread(&channel).await {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(%channel, "cannot read the assignment: {e}");
                    return (
                        PlaceReply::refused(format!(
                            "cannot read the assignment of {channel}: {e}; retry"
                        )),
                        "error",
                    );
                }
            }
        } else {
            None
        };
        if let Some(Assignment {
            worker: Some(worker),
            epoch,
            ..
        }) = &previous
        {
            if self.view.contains(worker) {
                return (PlaceReply::placed(worker.clone(), *epoch), "existing");
            }
        }
        let cost = match self.cost(&channel, req.source).await {
            Ok(c) => c,
            Err(reason) => {
                self.leading
                    .metrics
                    .refusals
                    .with_label_values(&["profile"])
                    .inc();
                return (PlaceReply::refused(reason), "refused");
            }
        };
        let placement = match self.view.place(&channel, &cost, self.leading.config.policy) {
            Ok(p) => p,
            Err(no_fit) => {
                self.leading
                    .metrics
                    .refusals
                    .with_label_values(&[no_fit.kind])
                    .inc();
                tracing::info!(%channel, "placement refused: {no_fit}");
                return (PlaceReply::refused(no_fit.reason), "refused");
            }
        };
        let written = match &previous {
            Some(Assignment {
                worker: Some(gone),
                epoch,
                ..
            }) => {
                let reason = format!("placed ({}), previous worker {gone} gone", placement.kind);
                self.leading
                    .assignments
                    .reassign(&channel, *epoch, &placement.worker, &reason)
                    .await
            }
            _ => {
                let reason = format!("placed ({})", placement.kind);
                self.leading
                    .assignments
                    .assign(&channel, &placement.worker, &reason)
                    .await
            }
        };
        match written {
            Ok(a) => {
                tracing::info!(%channel, worker = %placement.worker, kind = %placement.kind, epoch = a.epoch, "channel placed");
                let reply = PlaceReply::placed(placement.worker, a.epoch);
                self.current.insert(channel, a);
                (reply, "placed")
            }
            Err(e) => {
                self.view.unreserve(&channel);
                self.refresh(&channel).await;
                match self.current.get(&channel) {
                    Some(Assignment {
                        worker: Some(w),
                        epoch,
                        ..
                    }) if self.view.contains(w) => {
                        (PlaceReply::placed(w.clone(), *epoch), "existing")
                    }
                    _ => {
                        tracing::warn!(%channel, "placement not written: {e}");
                        (
                            PlaceReply::refused(format!(
                                "placement of {channel} not written: {e}; retry"
                            )),
                            "error",
                        )
                    }
                }
            }
        }
    }
}
