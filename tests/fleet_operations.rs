//! Operating the fleet with real processes (a nats-server, a scheduler,
//! workers and an ingest, each a `livefleet` process; ffmpeg as the
//! publisher): calibration, drains, stream key rotation, channel deletion,
//! live retention without the archive, a worker stopped while its bus is away.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn calibrate_prints_a_capacity_for_the_worker_config() {
    let out = run(livefleet().args(["worker", "calibrate", "--seconds", "0.5"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let cpu: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("capacity_cpu_pps: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no capacity_cpu_pps in {stdout}"));
    assert!(cpu > 0, "{stdout}");
    // The snippet is a valid worker --config file.
    let parsed: serde_json::Value = serde_norway::from_str(&stdout).unwrap();
    assert_eq!(parsed["capacity_cpu_pps"].as_u64(), Some(cpu));
}

#[test]
fn drain_moves_channels_without_a_gap_and_keeps_the_node_empty() {
    let fleet = Fleet::start(&["w1", "w2"]);
    fleet.create_channel("dr", "drkey-123456", "cpu-small.yaml");
    let publisher = Publisher::ffmpeg(&fleet.publish_url("drkey-123456"), 30);
    let out = fleet.data().join("live/dr");
    fleet.wait_for(40, "two segments", |_| {
        playlist(&out, "360p").matches(".m4s").count() >= 2
    });
    let mut owner = None;
    fleet.wait_for(10, "the channel's worker", |f| {
        owner = f.owner("dr");
        owner.is_some()
    });
    let owner = owner.unwrap();
    let other = if owner == "w1" { "w2" } else { "w1" };

    let drained = run(livefleet().args(["node", "drain", &owner, "--nats-url", &fleet.nats_url]));
    assert!(
        drained.status.success(),
        "node drain: {}{}",
        text(&drained.stdout),
        text(&drained.stderr)
    );
    assert!(
        text(&drained.stdout).contains(&format!("moved dr -> {other}")),
        "{}",
        text(&drained.stdout)
    );
    fleet.wait_for(15, "the channel to run on the other worker", |f| {
        f.owner("dr").as_deref() == Some(other)
    });

    // A new publish is not placed on the drained worker.
    fleet.create_channel("dr2", "dr2key-123456", "cpu-small.yaml");
    let second = Publisher::ffmpeg(&fleet.publish_url("dr2key-123456"), 8);
    fleet.wait_for(15, "the second channel to start", |f| {
        f.owner("dr2").is_some()
    });
    assert_eq!(
        fleet.owner("dr2").as_deref(),
        Some(other),
        "a drained worker got a new channel"
    );
    let _ = second.finish();

    let (ok, err) = publisher.finish();
    assert!(ok, "the publisher was disturbed by the drain: {err}");
    // Every rendition's VOD playlist, not only the first one stored.
    fleet.wait_for(30, "ENDLIST", |_| {
        ["360p", "240p", "audio"]
            .iter()
            .all(|r| playlist(&out, r).contains("#EXT-X-ENDLIST"))
    });
    for r in ["360p", "240p", "audio"] {
        let (uris, disc) = playlist_entries(&playlist(&out, r));
        let numbers: Vec<u64> = uris.iter().map(|u| number(u)).collect();
        assert!(
            numbers.windows(2).all(|w| w[1] == w[0] + 1),
            "{r}: gap or duplicate after the drain: {numbers:?}"
        );
        assert_eq!(
            disc.len(),
            1,
            "{r}: one discontinuity where the channel moved"
        );
    }
    let undrained =
        run(livefleet().args(["node", "undrain", &owner, "--nats-url", &fleet.nats_url]));
    assert!(undrained.status.success(), "{}", text(&undrained.stderr));
}

#[test]
fn rotating_a_stream_key_ends_the_old_publish_and_the_new_key_continues() {
    let fleet = Fleet::start(&["w1"]);
    fleet.create_channel("rot", "rotkey-old-0001", "cpu-small.yaml");
    let publisher = Publisher::ffmpeg(&fleet.publish_url("rotkey-old-0001"), 60);
    let out = fleet.data().join("live/rot");
    fleet.wait_for(40, "two segments", |_| {
        playlist(&out, "360p").matches(".m4s").count() >= 2
    });
    let rotated = run(livefleet().args([
        "channel",
        "rotate-key",
        "rot",
        "--stream-key",
        "rotkey-new-0001",
        "--nats-url",
        &fleet.nats_url,
    ]));
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    assert!(text(&rotated.stdout).contains("rotkey-new-0001"));
    let (ok, err) = publisher.finish();
    assert!(!ok, "the publisher kept publishing with a retired key");
    assert!(
        err.contains("changed"),
        "the publisher was not told why: {err}"
    );
    // The old key is refused; the new one continues the broadcast.
    let (ok, err) = Publisher::ffmpeg(&fleet.publish_url("rotkey-old-0001"), 5).finish();
    assert!(!ok, "the retired key was accepted: {err}");
    let before = playlist(&out, "360p").matches(".m4s").count();
    let _new = Publisher::ffmpeg(&fleet.publish_url("rotkey-new-0001"), 60);
    fleet.wait_for(40, "segments from the new key", |_| {
        playlist(&out, "360p").matches(".m4s").count() >= before + 2
    });
}

#[test]
fn deleting_a_live_channel_ends_its_publish_and_broadcast_and_frees_its_worker() {
    let fleet = Fleet::start(&["w1"]);
    fleet.create_channel("gone", "gonekey-123456", "cpu-small.yaml");
    let publisher = Publisher::ffmpeg(&fleet.publish_url("gonekey-123456"), 60);
    let out = fleet.data().join("live/gone");
    fleet.wait_for(40, "two segments", |_| {
        playlist(&out, "360p").matches(".m4s").count() >= 2
    });
    fleet.wait_for(10, "the channel's worker", |f| f.owner("gone").is_some());
    let deleted_at = Instant::now();
    let deleted =
        run(livefleet().args(["channel", "delete", "gone", "--nats-url", &fleet.nats_url]));
    assert!(deleted.status.success(), "{}", text(&deleted.stderr));
    // The publisher is told, with an RTMP error status naming the reason.
    let (ok, err) = publisher.finish();
    assert!(!ok, "the publisher kept publishing to a deleted channel");
    assert!(
        err.contains("deleted"),
        "the publisher was not told why: {err}"
    );
    assert!(
        deleted_at.elapsed() < Duration::from_secs(10),
        "the publish ended {:?} after the delete",
        deleted_at.elapsed()
    );
    // The broadcast ends (live-to-VOD) without waiting out the grace period, and the worker is free.
    fleet.wait_for(10, "ENDLIST", |_| {
        playlist(&out, "360p").contains("#EXT-X-ENDLIST")
    });
    fleet.wait_for(10, "the worker to let the channel go", |f| {
        f.owner("gone").is_none()
    });
    let status =
        run(livefleet().args(["fleet", "status", "--json", "--nats-url", &fleet.nats_url]));
    assert!(
        !text(&status.stdout).contains("\"gone\""),
        "fleet status still lists the deleted channel: {}",
        text(&status.stdout)
    );
    assert!(
        fleet.logs().contains("channel gone was deleted"),
        "{}",
        fleet.logs()
    );
}

/// The media segment files of a rendition directory (`N.m4s`, `N-gG.m4s`).
fn stored(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(".m4s"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn without_the_archive_fleet_workers_delete_expired_segments_and_what_a_killed_one_left() {
    let mut fleet = Fleet::start(&[]);
    let config = fleet.dir.path().join("worker.yaml");
    std::fs::write(&config, "archive:\n  enabled: false\n").unwrap();
    fleet.worker_args = ["--config", config.to_str().unwrap(), "--live-window", "2"]
        .map(String::from)
        .to_vec();
    fleet.add_worker("w1");
    fleet.add_worker("w2");
    fleet.wait_for_workers(&["w1", "w2"]);
    fleet.create_channel("ro", "rokey-123456", "cpu-small.yaml");
    let publisher = Publisher::ffmpeg(&fleet.publish_url("rokey-123456"), 40);
    let out = fleet.data().join("live/ro");
    // Segments go while live: 2 listed, 3 behind them, 1 being written.
    // A fleet worker names them by its assignment: `<n>-g<epoch>.m4s`.
    let mut most = 0;
    let mut first = String::new();
    fleet.wait_for(40, "segment 0 deleted while live", |_| {
        let names = stored(&out.join("360p"));
        most = most.max(names.len());
        first = names.first().cloned().unwrap_or_default();
        names.len() >= 3 && names.iter().all(|n| number(n) > 0)
    });
    assert!(most <= 6, "{most} segments of 360p stored at once");
    let generation = first.split_once('-').map_or("", |(_, g)| g).to_owned();
    // What a worker that dies between saving its state and deleting leaves.
    let left = out.join("360p").join(format!("0-{generation}"));
    std::fs::write(&left, b"left behind").unwrap();
    std::fs::create_dir_all(out.join("chat")).unwrap();
    std::fs::write(out.join("chat/0.json"), b"[]").unwrap();
    let mut owner = None;
    fleet.wait_for(10, "the channel's worker", |f| {
        owner = f.owner("ro");
        owner.is_some()
    });
    let owner = owner.unwrap();
    fleet.kill_worker(&owner);
    fleet.wait_for(40, "the successor to delete what was left", |_| {
        !left.exists() && !out.join("chat/0.json").exists()
    });
    let survivor = if owner == "w1" { "w2" } else { "w1" };
    assert_eq!(fleet.owner("ro").as_deref(), Some(survivor));
    let (ok, err) = publisher.finish();
    assert!(ok, "the publisher failed: {err}");
    fleet.wait_for(30, "ENDLIST after the grace period", |_| {
        playlist(&out, "360p").contains("#EXT-X-ENDLIST")
    });
    // The successor kept deleting: what is stored is what the last playlist names.
    fleet.wait_for(
        10,
        "the store to hold what the final playlist names",
        |_| {
            let (mut uris, _) = playlist_entries(&playlist(&out, "360p"));
            uris.sort();
            uris == stored(&out.join("360p"))
        },
    );
    assert!(
        !fleet.data().join("vod").exists(),
        "no VOD without the archive"
    );
}

/// A worker stopped while its bus is away (an outage, a NATS upgrade gone
/// wrong) exits promptly: its goodbye heartbeat cannot reach the scheduler
/// and is given up, instead of holding the stop until the node is killed.
#[test]
fn a_worker_stopped_while_its_bus_is_away_exits_promptly() {
    let mut fleet = Fleet::start(&["w1"]);
    drop(fleet.nats.take());
    std::thread::sleep(Duration::from_secs(1));
    let status = fleet.stop_worker("w1", 15);
    assert!(
        status.is_some_and(|s| s.success()),
        "the worker did not exit cleanly within 15 s of SIGTERM: {status:?}"
    );
}

/// Ctrl-C in the terminal `livefleet dev` runs in reaches every process of
/// the job, the nats-server dev started among them. The server used to stop
/// at once, before the worker had ended and archived the broadcast: dev took
/// 21 s to give up on the archive record and left the VOD without its
/// master playlist. The server now runs in a process group of its own and
/// dev stops it last.
#[test]
fn ctrl_c_on_dev_ends_and_archives_the_broadcast_before_the_bus_stops() {
    let mut dev = Dev::start("ctrlc", &[]);
    let _publisher = Publisher::ffmpeg(&dev.publish_url, 60);
    let dir = dev.channel_dir();
    dev.wait_for(40, "the first segments", || {
        fs::read_to_string(dir.join("360p/index.m3u8"))
            .is_ok_and(|t| playlist_entries(&t).0.len() >= 2)
    });
    let status = dev.interrupt();
    let log = dev.log();
    assert!(
        status.is_some_and(|s| s.success()),
        "dev did not exit cleanly within 15 s of Ctrl-C ({status:?}):\n{log}"
    );
    assert!(!log.contains("archives unfinished"), "{log}");
    // One folder per broadcast (beside them, the channel's broadcasts.json).
    let vod = dev.data.path().join("store/vod/ctrlc");
    let masters: Vec<_> = fs::read_dir(&vod)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.path().join("master.m3u8"))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        masters.len() == 1 && masters[0].exists(),
        "the broadcast's VOD has no master playlist: {masters:?}\n{log}"
    );
    // The channel's listing names it too, written before the bus stopped.
    let id = masters[0].parent().unwrap().file_name().unwrap();
    let listing = fs::read_to_string(vod.join("broadcasts.json")).unwrap_or_default();
    assert!(
        listing.contains(&format!("\"id\":\"{}\"", id.to_string_lossy())),
        "{listing}\n{log}"
    );
}
