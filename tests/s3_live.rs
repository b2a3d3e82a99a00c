//! A live channel on S3: `livefleet dev --storage s3://...` against a real
//! S3-compatible server (s3s-fs) that the test stops and starts, with an
//! ffmpeg publisher. The harness records every manifest version the server
//! holds (polling its files every 100 ms) and checks what each one names.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::s3::S3Server;
use common::*;

/// Every `.m3u8` under `dir`, by path relative to it.
fn playlists(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "m3u8") {
                out.push(p);
            }
        }
    }
    out
}

/// The objects a playlist names (relative to its directory), the gaps apart.
fn named(text: &str) -> (Vec<String>, Vec<String>) {
    let (mut present, mut gaps) = (Vec::new(), Vec::new());
    let mut gap = false;
    for line in text.lines().map(str::trim) {
        if line == "#EXT-X-GAP" {
            gap = true;
        } else if let Some(i) = line.find("URI=\"") {
            present.extend(line[i + 5..].split('"').next().map(str::to_owned));
        } else if !line.is_empty() && !line.starts_with('#') {
            if std::mem::take(&mut gap) {
                gaps.push(line.to_owned());
            } else {
                present.push(line.to_owned());
            }
        }
    }
    (present, gaps)
}

/// What the recorder saw: manifest versions, and those naming a missing object.
#[derive(Default)]
struct Record {
    versions: usize,
    /// `EXT-X-GAP` lines summed over the versions seen.
    gap_marks: usize,
    violations: Vec<String>,
}

/// Polls every playlist under `live` every 100 ms until `stop`: each new
/// version must name only objects the server holds at that moment.
fn record(live: PathBuf, stop: Arc<AtomicBool>, out: Arc<Mutex<Record>>) {
    let mut seen: BTreeMap<PathBuf, String> = BTreeMap::new();
    while !stop.load(Ordering::Relaxed) {
        for p in playlists(&live) {
            let Ok(text) = fs::read_to_string(&p) else {
                continue;
            };
            if seen.get(&p) == Some(&text) {
                continue;
            }
            let dir = p.parent().unwrap();
            let (present, gaps) = named(&text);
            let mut r = out.lock().unwrap();
            r.versions += 1;
            r.gap_marks += gaps.len();
            for uri in present {
                if !dir.join(&uri).is_file() {
                    r.violations.push(format!("{} names {uri}", p.display()));
                }
            }
            seen.insert(p, text);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A counter or gauge of dev's `/metrics` (summed over its series).
fn metric(dev: &Dev, name: &str) -> f64 {
    let (_, _, body) = http_get(&format!("{}/metrics", dev.http));
    text(&body)
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn segment_count(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "m4s") {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn a_live_channel_on_s3_rides_out_a_ten_second_outage_and_its_archive_is_whole() {
    let mut s3 = S3Server::start(&["media"]);
    let dev = Dev::start_env(
        "s3ch",
        &["--storage", "s3://media/site", "--grace", "3"],
        &s3.env(),
    );
    let site = s3.root.path().join("media/site");
    let live = site.join("live/s3ch");
    let stop = Arc::new(AtomicBool::new(false));
    let rec = Arc::new(Mutex::new(Record::default()));
    let recorder = {
        let (live, stop, rec) = (live.clone(), stop.clone(), rec.clone());
        std::thread::spawn(move || record(live, stop, rec))
    };
    let publisher = Publisher::ffmpeg(&dev.publish_url, 36);
    dev.wait_for(60, "three segments on S3", || {
        segment_count(&live.join("360p")) >= 3
    });
    // The origin serves the live channel from the bucket.
    let (status, head, _) = http_get(&dev.url("master.m3u8"));
    assert_eq!(status, 200, "{head}");

    // The store goes away for 10 s; encoding and the node's loop go on.
    s3.stop();
    let outage = Instant::now();
    let mut encoded = Vec::new();
    while outage.elapsed() < Duration::from_secs(10) {
        encoded.push(metric(&dev, "livefleet_worker_frames_encoded_total"));
        std::thread::sleep(Duration::from_secs(1));
    }
    let parked_during = metric(&dev, "livefleet_storage_parked_puts");
    let missing_during = metric(&dev, "livefleet_storage_missing_segments");
    s3.resume();
    for w in encoded.windows(2) {
        assert!(
            w[1] > w[0],
            "frames encoded stalled during the outage: {encoded:?}"
        );
    }
    assert!(parked_during > 0.0, "nothing was parked during the outage");
    assert!(
        missing_during > 0.0,
        "no segment was marked missing during the outage"
    );

    let (ok, err) = publisher.finish();
    assert!(ok, "publisher: {err}");
    // The archive is made from the final manifests, once everything is back.
    let vod = site.join("vod/s3ch");
    dev.wait_for(120, "the VOD master on S3", || {
        fs::read_dir(&vod)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.path().join("master.m3u8").is_file())
    });
    stop.store(true, Ordering::Relaxed);
    recorder.join().unwrap();
    let rec = rec.lock().unwrap();
    assert!(
        rec.violations.is_empty(),
        "manifest versions named objects the store did not hold: {:?}",
        &rec.violations[..rec.violations.len().min(10)]
    );
    assert!(
        rec.versions >= 20,
        "only {} manifest versions seen",
        rec.versions
    );
    // Versions marking gaps exist only for moments: the parked segments are
    // stored a few milliseconds before the next version names them again.
    eprintln!(
        "manifest versions seen: {}, gap marks in them: {}",
        rec.versions, rec.gap_marks
    );

    // Afterwards every segment is stored: nothing missing, the VOD marks no gap.
    assert_eq!(metric(&dev, "livefleet_storage_missing_segments"), 0.0);
    assert_eq!(metric(&dev, "livefleet_storage_parked_puts"), 0.0);
    let vod_dir = fs::read_dir(&vod)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("master.m3u8").is_file())
        .unwrap();
    let mut all: BTreeSet<String> = BTreeSet::new();
    for p in playlists(&vod_dir) {
        let text = fs::read_to_string(&p).unwrap();
        assert!(!text.contains("#EXT-X-GAP"), "{}: {text}", p.display());
        for uri in named(&text).0 {
            let object = p.parent().unwrap().join(&uri);
            assert!(
                object.is_file(),
                "the VOD names {} (not stored)",
                object.display()
            );
            all.insert(object.display().to_string());
        }
    }
    assert!(all.len() > 30, "{all:?}");
    assert_eq!(
        segment_count(&vod_dir),
        segment_count(&live),
        "every live segment is in the VOD"
    );
    check_presentation(&vod_dir, &["360p", "240p"], "audio", 2.0, 12);
    let errors = decode_errors(&vod_dir.join("master.m3u8"));
    assert!(errors.is_empty(), "ffmpeg reading the VOD: {errors}");
    // One broadcast, no restart: the outage cost no session.
    let log = dev.log();
    assert_eq!(log.matches("broadcast starts").count(), 1, "{log}");
    assert!(log.contains("the store answers again"), "{log}");
}

#[test]
fn a_store_gone_for_good_is_named_counted_and_stalls_nothing() {
    let mut s3 = S3Server::start(&["media"]);
    let dev = Dev::start_env(
        "gone",
        &["--storage", "s3://media/site", "--grace", "2"],
        &s3.env(),
    );
    let live = s3.root.path().join("media/site/live/gone");
    let mut publisher = Publisher::ffmpeg(&dev.publish_url, 60);
    dev.wait_for(60, "two segments on S3", || {
        segment_count(&live.join("360p")) >= 2
    });
    let stored_before: BTreeMap<PathBuf, String> = playlists(&live)
        .into_iter()
        .filter_map(|p| Some((p.clone(), fs::read_to_string(&p).ok()?)))
        .collect();
    s3.stop();
    let before = metric(&dev, "livefleet_worker_frames_encoded_total");
    std::thread::sleep(Duration::from_secs(12));
    let after = metric(&dev, "livefleet_worker_frames_encoded_total");
    assert!(
        after > before + 200.0,
        "encoding stalled: {before} -> {after}"
    );
    assert!(metric(&dev, "livefleet_storage_missing_segments") > 0.0);
    let failed = {
        let (_, _, body) = http_get(&format!("{}/metrics", dev.http));
        text(&body)
            .lines()
            .find(|l| l.starts_with("livefleet_storage_puts_total{result=\"failed\"}"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert!(failed > 0.0, "no failed put counted");
    // The log says what and where.
    let log = dev.log();
    let endpoint = s3.endpoint();
    assert!(
        log.contains("the store is not answering") && log.contains(&endpoint),
        "no log line names the store ({endpoint}): {log}"
    );
    // The origin answers a short-lived 503, not a hang.
    let started = Instant::now();
    let (status, head, _) = http_get(&dev.url("master.m3u8"));
    assert_eq!(status, 503, "{head}");
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
    // The channel is not stuck: the broadcast ends after the publisher leaves.
    publisher.kill();
    dev.wait_for(60, "the broadcast to end", || {
        dev.log().contains("broadcast ended")
    });
    // What the store kept is still a consistent live presentation.
    for (p, text) in stored_before {
        let dir = p.parent().unwrap();
        for uri in named(&text).0 {
            assert!(dir.join(&uri).is_file(), "{} names {uri}", p.display());
        }
    }
    assert!(
        dev.log().contains("the broadcast could not be archived")
            || !dev.log().contains("broadcast archived"),
        "an archive cannot be complete without a store"
    );
}
