//! `livefleet storyboard`: makes again the storyboard (thumbnail tiles for
//! scrubbing) of a finished output, a directory or an S3 prefix.

use std::process::ExitCode;

use anyhow::Context;
use livefleet_storage::Location;

/// Make (or remake) the storyboard of a finished output: storyboard.vtt and storyboard/<n>.jpg beside its manifests.
#[derive(clap::Args)]
pub struct StoryboardArgs {
    /// The output: a directory or s3://BUCKET/PREFIX (`transcode --out`, or a VOD's `vod/<channel>/<id>`).
    #[arg(value_parser = Location::parse)]
    pub out: Location,
}

pub async fn run(a: StoryboardArgs) -> anyhow::Result<ExitCode> {
    // Opening a directory creates it: a mistyped path is said as such.
    if let Location::Local(dir) = &a.out {
        anyhow::ensure!(dir.is_dir(), "{} is not a directory", dir.display());
    }
    let storage = a
        .out
        .open()
        .await
        .with_context(|| format!("cannot open {}", a.out))?;
    let made = livefleet_worker::storyboard::remake(&*storage, "")
        .await
        .with_context(|| format!("no storyboard for {}", a.out))?;
    println!(
        "{}: storyboard.vtt, {} of {} tiles made, sprites: {}",
        a.out, made.tiles, made.planned, made.sprites
    );
    Ok(ExitCode::SUCCESS)
}
