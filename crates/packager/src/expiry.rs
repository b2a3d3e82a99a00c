//! Segments that left the live manifests (see
//! [`PackagerConfig::expire_segments`](crate::PackagerConfig::expire_segments)).
//!
//! A media segment stays stored after it leaves the manifests for as long
//! again as they list plus one segment: RFC 8216 (6.2.2) asks that a player
//! which read the previous playlist (or a CDN's copy of it) can still fetch
//! what it named. With a window of `L` segments starting at `s`, segment `n`
//! expires once `n < s - L - 1`. An init segment expires when no period
//! still stored needs it.

use std::collections::BTreeSet;

use crate::manifest::{listed, period_of, window};
use crate::{segment_name, Packager};

impl Packager {
    /// The paths (`<track>/<file>`) of the segments that expired since the
    /// last call: media segments first, then the init segments no stored
    /// period names. Delete them after the manifests handed out before.
    pub fn take_expired(&mut self) -> Vec<String> {
        std::mem::take(&mut self.expired)
    }

    /// Once, after a resume: the segment numbers `[from, below)` of this
    /// broadcast that expired under the packager before this one. Its
    /// worker may have stopped between saving the state and deleting them,
    /// so whatever of them is still stored should go (a listing finds it).
    pub fn take_sweep(&mut self) -> Option<(u64, u64)> {
        self.sweep.take()
    }

    /// After new live manifests: moves `retained_from` up to what they
    /// still need, and lists what falls below.
    pub(crate) fn expire(&mut self) {
        if !self.config.expire_segments || self.finished {
            return;
        }
        let Some((start, end)) = window(self) else {
            return;
        };
        let listed_count = end + 1 - start;
        let keep_from = start.saturating_sub(listed_count + 1);
        if keep_from <= self.retained_from {
            return;
        }
        let gone = (self.retained_from, keep_from - 1);
        let mut expired = Vec::new();
        for t in &self.tracks {
            for e in listed(t, gone) {
                let generation = self
                    .periods
                    .get(period_of(self, e.number))
                    .map_or(self.init_generation, |x| x.init_generation);
                expired.push(format!(
                    "{}/{}",
                    t.spec.name,
                    segment_name(e.number, generation)
                ));
            }
        }
        self.retained_from = keep_from;
        expired.extend(self.expired_inits());
        self.expired.extend(expired);
        // What expired leaves the history too: a broadcast that runs for
        // months holds its window, not every segment since it began.
        let mut starts: Vec<u64> = self.periods.iter().map(|x| x.first_number).collect();
        starts.extend(self.holes().iter().map(|h| h + 1));
        for t in &mut self.tracks {
            t.trim(keep_from, &starts);
        }
    }

    /// Init segments of periods wholly below `retained_from` that no later
    /// period (nor the one being written) shares.
    fn expired_inits(&mut self) -> Vec<String> {
        let first_kept = period_of(self, self.retained_from);
        let needed: BTreeSet<(u32, u32)> = self.periods[first_kept.min(self.periods.len())..]
            .iter()
            .map(|x| (x.init_generation, x.init_version))
            .chain([(self.init_generation, self.init_version)])
            .collect();
        let unneeded: Vec<(u32, u32)> = self.periods[..first_kept.min(self.periods.len())]
            .iter()
            .map(|x| (x.init_generation, x.init_version))
            .filter(|k| !needed.contains(k) && !self.expired_inits.contains(k))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut out = Vec::new();
        for (generation, version) in unneeded {
            self.expired_inits.insert((generation, version));
            let name = crate::init_name(generation, version);
            out.extend(
                self.tracks
                    .iter()
                    .map(|t| format!("{}/{name}", t.spec.name)),
            );
        }
        out
    }
}
