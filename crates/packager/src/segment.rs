//! Segmentation: where a track's segments open and close, how audio is cut
//! at the lead video track's boundaries, and which number a segment takes.

use super::*;

impl Packager {
    pub(crate) fn push_video(
        &mut self,
        i: usize,
        sample: Sample,
        out: &mut Vec<Output>,
    ) -> Result<(), PackagerError> {
        let is_lead = self.lead == Some(i);
        match &self.tracks[i].open {
            None => {
                if !sample.keyframe {
                    return Ok(()); // nothing decodes before the first keyframe
                }
                let number = self.number_for(i, sample.dts);
                self.open(i, number, sample.dts);
            }
            Some(open) if sample.segment_start && sample.keyframe && !open.samples.is_empty() => {
                // A rendition that missed a boundary (its encoder placed no
                // keyframe there) takes the number the lead gave this time,
                // so its later segments keep the ladder's numbers.
                let next = if is_lead {
                    open.number + 1
                } else {
                    self.number_for(i, sample.dts).max(open.number + 1)
                };
                // The MPD leaves skipped numbers out everywhere (as it does a
                // lost segment), so `$Number$` stays right.
                self.skipped_numbers.extend(open.number + 1..next);
                while self.skipped_numbers.len() > MAX_SKIPPED {
                    self.skipped_numbers.pop_first();
                }
                self.close(i, Some(sample.dts), out);
                self.open(i, next, sample.dts);
            }
            Some(open) if open.bytes + sample.data.len() > MAX_SEGMENT_BYTES => {
                return Err(PackagerError::SegmentTooLarge {
                    track: self.tracks[i].spec.name.clone(),
                    number: open.number,
                    limit: MAX_SEGMENT_BYTES,
                });
            }
            Some(_) => {}
        }
        let t = &mut self.tracks[i];
        t.last_delta = t
            .last_dts
            .map(|p| sample.dts - p)
            .filter(|d| *d > 0)
            .or(t.last_delta);
        t.last_dts = Some(sample.dts);
        let open = t.open.as_mut().expect("opened above");
        open.bytes += sample.data.len();
        open.samples.push(sample);
        if is_lead {
            self.cut_audio(out);
        }
        Ok(())
    }

    pub(crate) fn push_audio(
        &mut self,
        i: usize,
        sample: Sample,
        out: &mut Vec<Output>,
    ) -> Result<(), PackagerError> {
        let t = &mut self.tracks[i];
        if t.pending_bytes + sample.data.len() > MAX_PENDING_BYTES {
            return Err(PackagerError::SegmentTooLarge {
                track: t.spec.name.clone(),
                number: t.open.as_ref().map_or(self.next_number, |o| o.number),
                limit: MAX_PENDING_BYTES,
            });
        }
        t.last_delta = t
            .last_dts
            .map(|p| sample.dts - p)
            .filter(|d| *d > 0)
            .or(t.last_delta);
        t.last_dts = Some(sample.dts);
        t.pending_bytes += sample.data.len();
        t.pending.push_back(sample);
        self.cut_audio(out);
        Ok(())
    }

    /// Moves pending audio into segments and closes those whose end is known.
    pub(crate) fn cut_audio(&mut self, out: &mut Vec<Output>) {
        for i in 0..self.tracks.len() {
            if self.tracks[i].is_video() {
                continue;
            }
            while let Some(first_dts) = self.tracks[i].pending.front().map(|s| s.dts) {
                if self.tracks[i].open.is_none() {
                    let (dts, number) = (first_dts, self.number_for(i, first_dts));
                    self.open(i, number, dts);
                }
                let number = self.tracks[i].open.as_ref().map_or(0, |o| o.number);
                let end = self.segment_end(i, number);
                let t = &mut self.tracks[i];
                if end.is_none() {
                    // With video, wait for the boundary; audio alone starts its grid with this sample.
                    if self.lead.is_some() || t.open.as_ref().is_some_and(|o| !o.samples.is_empty())
                    {
                        break;
                    }
                    let s = t.pending.pop_front().expect("front exists");
                    t.pending_bytes -= s.data.len();
                    let open = t.open.as_mut().expect("opened above");
                    open.bytes += s.data.len();
                    open.samples.push(s);
                    continue;
                }
                let open = t.open.as_mut().expect("opened above");
                while let Some(s) = t.pending.front() {
                    if end.is_some_and(|e| s.dts >= e) {
                        break;
                    }
                    let s = t.pending.pop_front().expect("front exists");
                    t.pending_bytes -= s.data.len();
                    open.bytes += s.data.len();
                    open.samples.push(s);
                }
                match (end, t.pending.front().map(|s| s.dts)) {
                    (Some(e), Some(next)) if next >= e => {
                        let empty = open.samples.is_empty();
                        if empty {
                            // Nothing of this track in that segment: move on to the next number.
                            t.open = None;
                            let n = number + 1;
                            self.open(i, n, next);
                        } else {
                            self.close(i, Some(next), out);
                        }
                    }
                    _ => break,
                }
            }
        }
    }

    /// When an audio track's segment `number` ends, in the track's timescale.
    pub(crate) fn segment_end(&self, i: usize, number: u64) -> Option<i64> {
        let ts = i64::from(self.tracks[i].spec.timescale);
        match self.lead {
            Some(lead) => {
                let b = *self.boundaries.get(&(number + 1))?;
                Some(rescale(b, i64::from(self.tracks[lead].spec.timescale), ts))
            }
            None => {
                // Audio only: a grid of segment durations from the segment's start.
                let start = self.tracks[i]
                    .open
                    .as_ref()?
                    .samples
                    .first()
                    .map(|s| s.dts)?;
                Some(start + (self.config.segment_duration * ts as f64).round() as i64)
            }
        }
    }

    /// The segment number a track starting at `dts` joins.
    pub(crate) fn number_for(&self, i: usize, dts: i64) -> u64 {
        match self.lead {
            Some(lead) if lead != i => {
                let t = rescale(
                    dts,
                    i64::from(self.tracks[i].spec.timescale),
                    i64::from(self.tracks[lead].spec.timescale),
                );
                // The latest lead segment starting at or before dts (within a frame, for rounding).
                let slack = self.tracks[lead].default_duration / 2;
                self.boundaries
                    .range(self.next_number..)
                    .rev()
                    .find(|(_, b)| **b <= t + slack)
                    .map_or(self.next_number, |(n, _)| *n)
            }
            _ => self.next_number,
        }
    }

    pub(crate) fn open(&mut self, i: usize, number: u64, dts: i64) {
        if let Some(wallclock_ms) = self.pending_period.take() {
            self.periods.push(PeriodState {
                first_number: number,
                wallclock_ms,
                init_generation: self.init_generation,
                init_version: self.init_version,
            });
        }
        if self.lead == Some(i) {
            self.boundaries.insert(number, dts);
            let keep = number.saturating_sub(8);
            self.boundaries = self.boundaries.split_off(&keep);
        }
        self.tracks[i].open = Some(OpenSegment {
            number,
            samples: Vec::new(),
            bytes: 0,
        });
    }

    /// Closes track `i`'s open segment; `next_dts` ends its last sample.
    pub(crate) fn close(&mut self, i: usize, next_dts: Option<i64>, out: &mut Vec<Output>) {
        let generation = self.init_generation;
        let t = &mut self.tracks[i];
        let Some(open) = t.open.take() else { return };
        if open.samples.is_empty() {
            return;
        }
        let video = t.is_video();
        let n = open.samples.len();
        let mut frag = Vec::with_capacity(n);
        let mut total: i64 = 0;
        for (k, s) in open.samples.iter().enumerate() {
            let d = match open.samples.get(k + 1).map(|x| x.dts).or(next_dts) {
                Some(next) => next - s.dts,
                None => s
                    .duration
                    .map(i64::from)
                    .or(t.last_delta)
                    .unwrap_or(t.default_duration),
            }
            .clamp(0, i64::from(u32::MAX));
            total += d;
            let cts = (s.pts - s.dts).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
            frag.push(mp4::FragSample {
                duration: d as u32,
                cts,
                sync: s.keyframe,
                data: &s.data,
            });
        }
        let start = open.samples[0].dts;
        let body = mp4::media_segment(
            (open.number as u32).wrapping_add(1),
            start.max(0) as u64,
            video,
            &frag,
        );
        t.history.push(SegEntry {
            number: open.number,
            start,
            duration: total,
            bytes: body.len() as u64,
        });
        let mut closed = ClosedSegment {
            track: t.spec.name.clone(),
            number: open.number,
            video,
            program_date_ms: 0,
            seconds: total as f64 / f64::from(t.spec.timescale.max(1)),
            bytes: body.len() as u64,
        };
        out.push(Output::put(
            format!("{}/{}", t.spec.name, segment_name(open.number, generation)),
            Bytes::from(body),
            CacheClass::Immutable,
        ));
        let t = &self.tracks[i];
        if let Some(entry) = t.history.last() {
            closed.program_date_ms = manifest::program_date_ms(self, t, entry);
        }
        self.closed.push(closed);
    }
}
