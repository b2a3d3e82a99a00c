//! `livefleet profile validate`.

use std::path::PathBuf;
use std::process::ExitCode;

use livefleet_profile::LadderProfile;

#[derive(clap::Subcommand)]
pub enum ProfileCommand {
    /// Check profiles; prints every problem with file, YAML path and fix; exits non-zero if any is invalid.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub fn run(command: ProfileCommand) -> ExitCode {
    let ProfileCommand::Validate { files } = command;
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
    if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
