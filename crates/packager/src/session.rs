//! The ends of publish sessions: a discontinuity (the publisher left and
//! comes back), a new track configuration, and the end of the broadcast.

use super::*;

impl Packager {
    /// Ends a publish session: open segments close, and the next segment
    /// starts a new period (EXT-X-DISCONTINUITY, a new DASH Period) at
    /// `wallclock_ms`. Returns the closed segments and manifests.
    #[must_use = "the outputs must be stored"]
    pub fn discontinuity(&mut self, wallclock_ms: i64) -> Vec<Output> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        self.flush(&mut out);
        self.publish(&mut out);
        self.pending_period = Some(wallclock_ms);
        out
    }

    /// Ends a publish session whose successor's tracks are configured anew
    /// (a publisher that came back with another resolution or codec
    /// parameters): a [`discontinuity`](Self::discontinuity), then the next
    /// period uses new init segments (`init-<g>-<v>.mp4`, written here),
    /// while the earlier periods keep theirs. `tracks` must name the same
    /// tracks, of the same kinds and timescales, in the same order: the
    /// multivariant playlist is read once by players and cannot change.
    #[must_use = "the outputs must be stored"]
    pub fn reconfigure(
        &mut self,
        tracks: Vec<TrackSpec>,
        wallclock_ms: i64,
    ) -> Result<Vec<Output>, PackagerError> {
        let same_shape = tracks.len() == self.tracks.len()
            && tracks.iter().zip(&self.tracks).all(|(n, t)| {
                n.name == t.spec.name
                    && n.timescale == t.spec.timescale
                    && matches!(n.media, TrackMedia::Video { .. }) == t.is_video()
            });
        if !same_shape {
            return Err(PackagerError::Config(
                "a reconfiguration must keep the tracks (names, kinds, timescales, order)".into(),
            ));
        }
        let mut fresh = Vec::with_capacity(tracks.len());
        for spec in tracks {
            fresh.push(Track::new(spec)?);
        }
        let mut out = self.discontinuity(wallclock_ms);
        if self.finished {
            return Ok(out);
        }
        let before = self
            .tracks
            .iter()
            .map(|t| (t.spec.clone(), t.codecs.clone()))
            .collect();
        self.earlier_tracks
            .insert((self.init_generation, self.init_version), before);
        for (t, f) in self.tracks.iter_mut().zip(fresh) {
            t.spec = f.spec;
            t.codecs = f.codecs;
            t.default_duration = f.default_duration;
        }
        self.init_version += 1;
        out.extend(self.tracks.iter().map(|t| self.init_output(t)));
        Ok(out)
    }

    /// Ends the broadcast: closes the last segments and writes the
    /// live-to-VOD manifests (ENDLIST, a static MPD listing every segment,
    /// the master with measured bandwidth).
    #[must_use = "the outputs must be stored"]
    pub fn finish(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        self.flush(&mut out);
        self.publish(&mut out);
        self.finished = true;
        if self.published.is_some() {
            self.write_manifests(&mut out);
        }
        out
    }
}
