//! `livefleet transcode`: one file or URL to CMAF, HLS and DASH, with a progress bar.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::ValueEnum;
use livefleet_profile::{DecoderChoice, LadderProfile};
use livefleet_worker::encoder::EncoderKind;
use livefleet_worker::transcode::{transcode, TranscodeJob};
use livefleet_worker::Progress;

/// Transcode a file or URL with a ladder profile into CMAF segments, HLS and DASH (live-to-VOD output).
#[derive(clap::Args)]
pub struct TranscodeArgs {
    /// Anything FFmpeg can open: a file path or a URL.
    pub input: String,
    /// Ladder profile (YAML).
    #[arg(long)]
    pub profile: PathBuf,
    /// Where the output goes: a directory (created if missing) or s3://BUCKET/PREFIX
    /// (credentials, region and AWS_ENDPOINT_URL from the AWS environment):
    /// master.m3u8, manifest.mpd, one folder per rendition.
    #[arg(long, value_parser = livefleet_storage::Location::parse)]
    pub out: livefleet_storage::Location,
    /// Override the profile's encoder choice.
    #[arg(long, value_enum)]
    pub encoder: Option<EncoderArg>,
    /// Override the profile's decoder choice (where the source is decoded and scaled).
    #[arg(long, value_enum)]
    pub decoder: Option<DecoderArg>,
    /// Replace a previous output in --out (a non-empty --out is refused otherwise).
    #[arg(long)]
    pub force: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum EncoderArg {
    Nvenc,
    X264,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DecoderArg {
    Auto,
    Nvdec,
    Cpu,
}

pub fn run(a: TranscodeArgs) -> anyhow::Result<()> {
    let mut profile = LadderProfile::load(&a.profile).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(d) = a.decoder {
        profile.decoder = match d {
            DecoderArg::Auto => DecoderChoice::Auto,
            DecoderArg::Nvdec => DecoderChoice::Nvdec,
            DecoderArg::Cpu => DecoderChoice::Cpu,
        };
    }
    let job = TranscodeJob {
        input: a.input,
        profile,
        out: a.out,
        encoder: a.encoder.map(|e| match e {
            EncoderArg::Nvenc => EncoderKind::Nvenc,
            EncoderArg::X264 => EncoderKind::X264,
        }),
        force: a.force,
    };
    run_transcode(&job)
}

fn run_transcode(job: &TranscodeJob) -> anyhow::Result<()> {
    let progress = Arc::new(Progress::default());
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} s of media  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let watcher = {
        let progress = progress.clone();
        let bar = bar.clone();
        std::thread::spawn(move || loop {
            let total = progress.duration_ms.load(Ordering::Relaxed) / 1000;
            if total > 0 {
                bar.set_length(total);
            }
            bar.set_position(progress.media_ms.load(Ordering::Relaxed) / 1000);
            bar.set_message(format!(
                "{} frames, {} segments",
                progress.frames_decoded.load(Ordering::Relaxed),
                progress.segments_written.load(Ordering::Relaxed)
            ));
            if bar.is_finished() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        })
    };
    let result = transcode(job, progress);
    bar.finish_and_clear();
    let _ = watcher.join();
    let report = result.with_context(|| format!("transcoding {}", job.input))?;
    println!(
        "{}: {:.1} s of media, {} frames, {} segments, encoder {}, video path {}{}",
        job.out,
        report.media_seconds,
        report.frames_decoded,
        report.segments_written,
        report.encoder,
        report
            .paths
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(" then "),
        if report.corrupt_packets > 0 {
            format!(", {} corrupt packets skipped", report.corrupt_packets)
        } else {
            String::new()
        }
    );
    Ok(())
}
