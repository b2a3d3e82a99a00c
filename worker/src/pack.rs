//! The package stage: one thread per broadcast turns the renditions' samples
//! into CMAF segments and manifests and hands them to the [`OutputSink`].
//!
//! Every other stage talks to it through a [`PackSender`]; messages are
//! handled in the order they arrive, and the queue is bounded, so a slow
//! store slows the encoders rather than growing memory.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crossbeam_channel::{bounded, Receiver, Sender};
use livefleet_base::CacheClass;
use livefleet_packager::{
    Output, Packager, PackagerConfig, PackagerState, Sample, TrackId, TrackSpec,
};

use crate::metrics::DropReason;
use crate::progress::Progress;
use crate::sink::OutputSink;
use crate::PipelineError;

/// What the package stage is told.
pub(crate) enum PackMsg {
    /// The broadcast's first session: its tracks, and where a previous worker left it.
    Start {
        tracks: Vec<TrackSpec>,
        state: Option<PackagerState>,
    },
    Sample(TrackId, Sample),
    /// A new publish session with the same track configuration, at this wall clock (ms).
    Discontinuity(i64),
    /// A new publish session whose tracks are configured anew (new init segments).
    Reconfigure {
        tracks: Vec<TrackSpec>,
        wallclock_ms: i64,
    },
    /// The channel's latest preview picture (`crate::thumbnail`), a JPEG.
    Thumbnail(bytes::Bytes),
    Finish,
}

/// A stage's handle on the package stage.
#[derive(Clone)]
pub(crate) struct PackSender(Sender<PackMsg>);

impl PackSender {
    pub(crate) fn send(&self, msg: PackMsg) -> Result<(), PipelineError> {
        self.0.send(msg).map_err(|_| PipelineError::PackagerGone)
    }

    pub(crate) fn sample(&self, track: TrackId, sample: Sample) -> Result<(), PipelineError> {
        self.send(PackMsg::Sample(track, sample))
    }

    /// A sender whose stage is gone: what is left once the broadcast let go of its packager.
    pub(crate) fn closed() -> Self {
        Self(bounded(1).0)
    }

    /// A sender and the messages it sends, for a stage tested alone.
    #[cfg(test)]
    pub(crate) fn pair() -> (Self, Receiver<PackMsg>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        (Self(tx), rx)
    }
}

/// Starts the package stage of a broadcast.
pub(crate) fn spawn(
    label: &str,
    config: PackagerConfig,
    sink: Box<dyn OutputSink>,
    progress: Arc<Progress>,
) -> Result<(PackSender, JoinHandle<Result<PackagerState, PipelineError>>), PipelineError> {
    let (tx, rx) = bounded::<PackMsg>(256);
    let label = label.to_owned();
    let handle = thread::Builder::new()
        .name(format!("pack-{label}"))
        .spawn(move || run(&label, config, rx, sink, &progress))
        .map_err(|e| PipelineError::Spawn {
            stage: "packager",
            source: e,
        })?;
    Ok((PackSender(tx), handle))
}

struct Stage<'a> {
    sink: Box<dyn OutputSink>,
    progress: &'a Progress,
}

impl Stage<'_> {
    fn write(&mut self, outputs: Vec<Output>, p: &mut Packager) -> Result<(), PipelineError> {
        let closed = p.take_closed();
        if let Some(m) = &self.progress.meter {
            for c in &closed {
                m.segment(&c.track, c.seconds, c.bytes);
            }
        }
        if outputs.is_empty() {
            self.announce(&closed);
            return Ok(());
        }
        let segments = outputs
            .iter()
            .filter(|o| matches!(o, Output::Put { path, .. } if path.ends_with(".m4s")))
            .count();
        if outputs.iter().any(Output::is_manifest) {
            self.sink.write_published(outputs, &p.state())?;
        } else {
            self.sink.write(outputs)?;
        }
        self.progress
            .segments_written
            .fetch_add(segments as u64, Ordering::Relaxed);
        self.announce(&closed);
        // Behind the manifests that stopped naming them a window ago.
        let expired = p.take_expired();
        if !expired.is_empty() {
            self.sink.expire(expired);
        }
        Ok(())
    }

    /// Stores the channel's preview picture (`crate::thumbnail`).
    fn store_thumbnail(
        &mut self,
        jpeg: bytes::Bytes,
        cache: CacheClass,
    ) -> Result<(), PipelineError> {
        self.sink.write(vec![Output::put(
            livefleet_base::THUMBNAIL_PATH.into(),
            jpeg,
            cache,
        )])?;
        Ok(())
    }

    /// Tells the bus about segments handed to the store.
    fn announce(&self, closed: &[livefleet_packager::ClosedSegment]) {
        if let Some(events) = &self.progress.events {
            events.segments_closed(closed);
        }
    }

    /// Segments the store lost become gaps in the manifests, re-rendered at once.
    fn sync_gaps(&mut self, p: &mut Packager) -> Result<(), PipelineError> {
        if let Some(paths) = self.sink.missing_changed() {
            if p.set_missing(&paths) {
                tracing::warn!(
                    missing = paths.len(),
                    "segments missing from the store; manifests mark them as gaps"
                );
                let outputs = p.manifests();
                self.write(outputs, p)?;
            }
        }
        Ok(())
    }
}

fn run(
    label: &str,
    config: PackagerConfig,
    rx: Receiver<PackMsg>,
    sink: Box<dyn OutputSink>,
    progress: &Progress,
) -> Result<PackagerState, PipelineError> {
    let span = tracing::info_span!("packager", channel = %label);
    let _enter = span.enter();
    let mut stage = Stage { sink, progress };
    let mut packager: Option<Packager> = None;
    let mut thumbnail: Option<bytes::Bytes> = None;
    let depth = progress.meter.as_ref().map(|m| m.queue("package"));
    while let Ok(msg) = rx.recv() {
        if let Some(d) = &depth {
            d.set(rx.len() as i64);
        }
        if let Some(p) = packager.as_mut() {
            stage.sync_gaps(p)?;
        }
        match msg {
            PackMsg::Start { tracks, state } => {
                let (mut p, outputs) = match state {
                    Some(state) => Packager::resume(config.clone(), tracks, state)?,
                    None => Packager::new(config.clone(), tracks)?,
                };
                stage.sink.started(&p.state());
                stage.write(outputs, &mut p)?;
                if let Some(numbers) = p.take_sweep() {
                    stage.sink.sweep(numbers);
                }
                packager = Some(p);
            }
            PackMsg::Sample(track, sample) => {
                let Some(p) = packager.as_mut() else { continue };
                match p.push(track, sample) {
                    Ok(outputs) => stage.write(outputs, p)?,
                    Err(e) => {
                        if let Some(m) = &stage.progress.meter {
                            m.dropped(DropReason::Packager);
                        }
                        tracing::warn!(track = track.0, error = %e, "sample dropped by the packager")
                    }
                }
            }
            PackMsg::Discontinuity(wallclock) => {
                if let Some(p) = packager.as_mut() {
                    let outputs = p.discontinuity(wallclock);
                    stage.write(outputs, p)?;
                }
            }
            PackMsg::Reconfigure {
                tracks,
                wallclock_ms,
            } => {
                if let Some(p) = packager.as_mut() {
                    let outputs = p.reconfigure(tracks, wallclock_ms)?;
                    tracing::info!(
                        "tracks configured anew; new init segments from the next period"
                    );
                    stage.write(outputs, p)?;
                }
            }
            PackMsg::Thumbnail(jpeg) => {
                if packager.is_some() {
                    stage.store_thumbnail(jpeg.clone(), CacheClass::Manifest)?;
                    thumbnail = Some(jpeg);
                }
            }
            PackMsg::Finish => {
                if let Some(p) = packager.as_mut() {
                    // The last picture again, cached as the final manifests
                    // are (a day, outside `live/`), before the archive copies it.
                    if let Some(jpeg) = thumbnail.take() {
                        stage.store_thumbnail(jpeg, CacheClass::Final)?;
                    }
                    stage.sink.settle();
                    stage.sync_gaps(p)?;
                    let outputs = p.finish();
                    stage.write(outputs, p)?;
                    // The last segments may have been lost too: the VOD must mark them.
                    for _ in 0..2 {
                        stage.sink.settle();
                        stage.sync_gaps(p)?;
                    }
                    let finals = p.manifests();
                    stage.sink.ended(finals, &p.state());
                }
                break;
            }
        }
    }
    Ok(packager.map(|p| p.state()).unwrap_or_default())
}
