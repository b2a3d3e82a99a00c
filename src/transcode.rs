//! `livefleet transcode`: one file or URL to CMAF, HLS and DASH, with a progress bar.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// Anything FFmpeg can open: a file path, a URL, or `-` for standard input.
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

/// Exit status 130 when a Ctrl-C stopped it early (the output then holds a
/// complete VOD of what was transcoded), as shells report an interrupted
/// command.
pub fn run(a: TranscodeArgs) -> anyhow::Result<ExitCode> {
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
        stop: Some(stop_on_signals()?),
    };
    run_transcode(&job)
}

/// A flag the first Ctrl-C (or SIGTERM) sets, so the transcode stops
/// reading and finishes its output; a second one ends the process at once
/// (exit status 130), leaving the output incomplete.
fn stop_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::flag;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        // Registered first, so it sees the flag as the earlier signal left it.
        flag::register_conditional_shutdown(signal, 130, stop.clone())
            .context("installing the Ctrl-C handler")?;
        flag::register(signal, stop.clone()).context("installing the Ctrl-C handler")?;
    }
    Ok(stop)
}

fn run_transcode(job: &TranscodeJob) -> anyhow::Result<ExitCode> {
    let progress = Arc::new(Progress::default());
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {prefix}[{elapsed_precise}] {bar:40} {pos}/{len} s of media  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let watcher = {
        let progress = progress.clone();
        let bar = bar.clone();
        let stop = job.stop.clone().unwrap_or_default();
        std::thread::spawn(move || loop {
            let total = progress.duration_ms.load(Ordering::Relaxed) / 1000;
            if total > 0 {
                bar.set_length(total);
            }
            bar.set_position(progress.media_ms.load(Ordering::Relaxed) / 1000);
            bar.set_message(format!(
                "{} frames, {} segments",
                progress.video_frames(),
                progress.segments_written.load(Ordering::Relaxed)
            ));
            if bar.is_finished() {
                break;
            }
            if stop.load(Ordering::Relaxed) {
                bar.set_prefix("stopping (Ctrl-C again to quit at once): ");
            }
            std::thread::sleep(Duration::from_millis(200));
        })
    };
    let result = transcode(job, progress);
    bar.finish_and_clear();
    let _ = watcher.join();
    let stopped = job.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed));
    let report = match result {
        // A Ctrl-C before the input opened (a URL that does not answer).
        Err(error) if stopped => {
            eprintln!("interrupted: {}: {error}", job.input);
            return Ok(ExitCode::from(130));
        }
        result => result.with_context(|| format!("transcoding {}", job.input))?,
    };
    println!(
        "{}: {:.1} s of media, {} frames, {} segments, encoder {}, video path {}{}{}{}{}",
        job.out,
        report.media_seconds,
        report.video_frames,
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
        },
        // The last frame's duration and the decoder's start are within this.
        if report.read_seconds > report.media_seconds + 0.5 {
            format!(
                ", {:.1} s of the input lost where the video path changed (see the warnings)",
                report.read_seconds - report.media_seconds
            )
        } else {
            String::new()
        },
        match report.timestamp_joins {
            0 => String::new(),
            1 => ", 1 timestamp jump joined".to_string(),
            n => format!(", {n} timestamp jumps joined"),
        },
        if report.held_seconds > 0.0 {
            format!(
                ", a picture held {:.1} s where the audio has no video",
                report.held_seconds
            )
        } else {
            String::new()
        }
    );
    if report.interrupted {
        let of = report
            .declared_seconds
            .map(|d| format!(" of {d:.1} s"))
            .unwrap_or_default();
        eprintln!(
            "interrupted at {:.1} s{of}: {} holds a complete VOD of the first {:.1} s; run again with --force for the whole input",
            report.media_seconds, job.out, report.media_seconds
        );
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}
