//! The `livefleet` command: every part of the system is a subcommand.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use livefleet_profile::LadderProfile;
use livefleet_worker::encoder::EncoderKind;
use livefleet_worker::transcode::{transcode, TranscodeJob};
use livefleet_worker::Progress;

#[derive(Parser)]
#[command(name = "livefleet", version, about = "Self-hosted live video: RTMP in, ABR CMAF (HLS + DASH) out")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Transcode a file or URL with a ladder profile into CMAF segments, HLS and DASH (live-to-VOD output).
    Transcode {
        /// Anything FFmpeg can open: a file path or a URL.
        input: String,
        /// Ladder profile (YAML).
        #[arg(long)]
        profile: PathBuf,
        /// Output directory (created if missing): master.m3u8, manifest.mpd, one directory per rendition.
        #[arg(long)]
        out: PathBuf,
        /// Override the profile's encoder choice.
        #[arg(long, value_enum)]
        encoder: Option<EncoderArg>,
    },
    /// Ladder profiles.
    Profile {
        #[command(subcommand)]
        command: ProfileCommand,
    },
}

#[derive(Subcommand)]
enum ProfileCommand {
    /// Check profiles; prints every problem with file, YAML path and fix; exits non-zero if any is invalid.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum EncoderArg {
    Nvenc,
    X264,
}

fn main() -> ExitCode {
    livefleet_base::telemetry::init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Transcode { input, profile, out, encoder } => {
            let profile = LadderProfile::load(&profile).map_err(|e| anyhow::anyhow!("{e}"))?;
            let job = TranscodeJob {
                input,
                profile,
                out,
                encoder: encoder.map(|e| match e {
                    EncoderArg::Nvenc => EncoderKind::Nvenc,
                    EncoderArg::X264 => EncoderKind::X264,
                }),
            };
            run_transcode(&job)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Profile { command: ProfileCommand::Validate { files } } => {
            let mut bad = 0;
            for file in &files {
                match LadderProfile::load(file) {
                    Ok(p) => println!(
                        "{}: ok ({}: {} video, {} audio renditions)",
                        file.display(),
                        p.name,
                        p.video.len(),
                        p.audio.len()
                    ),
                    Err(errors) => {
                        bad += 1;
                        println!("{errors}");
                    }
                }
            }
            Ok(if bad == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
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
        "{}: {:.1} s of media, {} frames, {} segments, encoder {}{}",
        job.out.display(),
        report.media_seconds,
        report.frames_decoded,
        report.segments_written,
        report.encoder,
        if report.corrupt_packets > 0 { format!(", {} corrupt packets skipped", report.corrupt_packets) } else { String::new() }
    );
    Ok(())
}
