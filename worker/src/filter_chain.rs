//! A one-input, one-output FFmpeg filter graph, `buffer -> filters ->
//! buffersink`: the shape of every scaler the worker builds (zimg on the
//! CPU, `scale_cuda` on the GPU), with the one error type both report.

use ff::{ffi, filter, frame};
use ffmpeg_next as ff;

/// Why a filter chain could not be built or did not scale a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("this FFmpeg build has no {0} filter")]
    Missing(&'static str),
    #[error("{chain}: {source}")]
    Build { chain: String, source: ff::Error },
    #[error("out of memory for the {0}")]
    OutOfMemory(&'static str),
    #[error("{filter} refused a frame: {source}")]
    Refused {
        filter: &'static str,
        source: ff::Error,
    },
    #[error("{filter} gave no frame: {source}")]
    NoFrame {
        filter: &'static str,
        source: ff::Error,
    },
}

/// One filter of a chain: its name and its options.
pub(crate) struct Step {
    pub name: &'static str,
    pub options: String,
}

/// `buffer -> steps -> buffersink`, built and validated.
pub(crate) struct FilterChain {
    graph: filter::Graph,
    source: *mut ffi::AVFilterContext,
    sink: *mut ffi::AVFilterContext,
    /// The chain's main filter, for errors.
    main: &'static str,
}

// SAFETY: the filter contexts belong to `graph`, which this value owns and
// which FFmpeg allows to be used from any one thread at a time.
unsafe impl Send for FilterChain {}

impl FilterChain {
    /// Builds the chain. `input` is the `buffer` source's options; `threads`
    /// caps the graph's threads (set before any filter is configured);
    /// `prepare` runs on the source before the graph is validated (GPU
    /// frames need their frames context there). `chain` names the chain in
    /// errors (`zscale 1920x1080 to 640x360`).
    pub(crate) fn new(
        chain: String,
        input: &str,
        steps: &[Step],
        threads: Option<i32>,
        prepare: impl FnOnce(*mut ffi::AVFilterContext) -> Result<(), FilterError>,
    ) -> Result<Self, FilterError> {
        let find = |name: &'static str| filter::find(name).ok_or(FilterError::Missing(name));
        let built = |source: ff::Error| FilterError::Build {
            chain: chain.clone(),
            source,
        };
        let mut graph = filter::Graph::new();
        if let Some(n) = threads {
            // SAFETY: a plain field of the graph we own, before any filter is configured.
            unsafe { (*graph.as_mut_ptr()).nb_threads = n };
        }
        let mut previous = graph.add(&find("buffer")?, "in", input).map_err(built)?;
        // SAFETY: the context belongs to `graph`, which this value owns.
        let source = unsafe { previous.as_mut_ptr() };
        prepare(source)?;
        for (i, step) in steps.iter().enumerate() {
            let mut next = graph
                .add(&find(step.name)?, &format!("f{i}"), &step.options)
                .map_err(built)?;
            previous.link(0, &mut next, 0);
            previous = next;
        }
        let mut sink = graph.add(&find("buffersink")?, "out", "").map_err(built)?;
        previous.link(0, &mut sink, 0);
        graph.validate().map_err(built)?;
        // SAFETY: the context lives as long as `graph`, which this value owns.
        let sink = unsafe { sink.as_mut_ptr() };
        Ok(Self {
            graph,
            source,
            sink,
            main: steps.first().map_or("buffer", |s| s.name),
        })
    }

    /// The filtered frame. `src` is not consumed: the other renditions read
    /// the same decoded frame.
    pub(crate) fn run(&mut self, src: &frame::Video) -> Result<frame::Video, FilterError> {
        let _ = &self.graph;
        let filter = self.main;
        // SAFETY: `source` and `sink` are contexts of our graph;
        // av_buffersrc_write_frame takes new references to `src`'s buffers
        // and get_frame fills a frame we own.
        unsafe {
            let rc = ffi::av_buffersrc_write_frame(self.source, src.as_ptr());
            if rc < 0 {
                return Err(FilterError::Refused {
                    filter,
                    source: ff::Error::from(rc),
                });
            }
            let mut out = frame::Video::empty();
            let rc = ffi::av_buffersink_get_frame(self.sink, out.as_mut_ptr());
            if rc < 0 {
                return Err(FilterError::NoFrame {
                    filter,
                    source: ff::Error::from(rc),
                });
            }
            Ok(out)
        }
    }
}

/// A chain whose filters may hold frames back (a deinterlacer needs the
/// next frame): frames go in with [`FilterChain::push`] and come out of
/// [`FilterChain::pull`] when ready; [`FilterChain::finish`] lets the last
/// ones out.
impl FilterChain {
    pub(crate) fn push(&mut self, src: &frame::Video) -> Result<(), FilterError> {
        // SAFETY: `source` is a context of our graph; the call takes new
        // references to `src`'s buffers.
        let rc = unsafe { ffi::av_buffersrc_write_frame(self.source, src.as_ptr()) };
        if rc < 0 {
            return Err(FilterError::Refused {
                filter: self.main,
                source: ff::Error::from(rc),
            });
        }
        Ok(())
    }

    /// No more frames: what the filters hold comes out of [`Self::pull`].
    pub(crate) fn finish(&mut self) -> Result<(), FilterError> {
        // SAFETY: a null frame marks the end of the source's stream.
        let rc = unsafe { ffi::av_buffersrc_write_frame(self.source, std::ptr::null()) };
        if rc < 0 {
            return Err(FilterError::Refused {
                filter: self.main,
                source: ff::Error::from(rc),
            });
        }
        Ok(())
    }

    /// The next filtered frame, `None` until one is ready (or after the end).
    pub(crate) fn pull(&mut self) -> Result<Option<frame::Video>, FilterError> {
        let mut out = frame::Video::empty();
        // SAFETY: `sink` is a context of our graph; it fills a frame we own.
        let rc = unsafe { ffi::av_buffersink_get_frame(self.sink, out.as_mut_ptr()) };
        match rc {
            0.. => Ok(Some(out)),
            ffi::AVERROR_EOF => Ok(None),
            rc if rc == ffi::AVERROR(ffi::EAGAIN) => Ok(None),
            rc => Err(FilterError::NoFrame {
                filter: self.main,
                source: ff::Error::from(rc),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain from 64x64 YUV420P through one filter.
    fn chain(name: &'static str, options: &str) -> Result<FilterChain, FilterError> {
        ff::init().unwrap();
        FilterChain::new(
            format!("{name} from 64x64"),
            "video_size=64x64:pix_fmt=yuv420p:time_base=1/90000:pixel_aspect=1/1",
            &[Step {
                name,
                options: options.into(),
            }],
            Some(1),
            |_| Ok(()),
        )
    }

    #[test]
    fn a_filter_this_ffmpeg_lacks_is_named() {
        let e = chain("no_such_filter", "").err().expect("no such filter");
        assert_eq!(e, FilterError::Missing("no_such_filter"));
        assert!(e.to_string().contains("no no_such_filter filter"), "{e}");
    }

    #[test]
    fn bad_options_say_which_chain() {
        let e = chain("scale", "w=not_a_number").err().expect("bad options");
        assert!(
            matches!(&e, FilterError::Build { chain, .. } if chain == "scale from 64x64"),
            "{e}"
        );
    }

    #[test]
    fn a_frame_goes_through() {
        let mut chain = chain("scale", "w=32:h=32").unwrap();
        let mut f = frame::Video::new(ff::format::Pixel::YUV420P, 64, 64);
        f.set_pts(Some(0));
        let out = chain.run(&f).unwrap();
        assert_eq!((out.width(), out.height()), (32, 32));
    }
}
