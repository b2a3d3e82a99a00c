//! The GPU check from the command line. Without a GPU (CI) `gpu-check` must
//! name every missing piece and exit 2; the ignored tests run on a GPU
//! machine through `scripts/gpu-check`.

mod common;

use common::*;
use serde_json::Value;

fn gpu_check() -> (i32, Value) {
    let out = run(livefleet().args(["worker", "gpu-check", "--json", "--seconds", "1"]));
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", text(&out.stdout), text(&out.stderr)));
    (out.status.code().unwrap_or(-1), report)
}

fn gpu_here() -> bool {
    std::path::Path::new("/dev/nvidia0").exists()
}

#[test]
fn without_a_gpu_the_check_names_each_missing_piece_and_exits_2() {
    if gpu_here() {
        return;
    }
    let (code, r) = gpu_check();
    assert_eq!(code, 2, "{r}");
    assert_eq!(r["outcome"], "no_gpu");
    for piece in ["gpu", "cuda", "scale_cuda", "nvenc_h264", "nvenc_hevc"] {
        assert_eq!(r[piece]["available"], false, "{piece}: {r}");
        assert!(
            r[piece]["reason"].as_str().is_some_and(|s| s.len() > 10),
            "{piece} without a reason: {r}"
        );
    }
    let cpu = r["modes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mode"] == "cpu")
        .unwrap();
    assert!(cpu["frames_per_second"].as_f64().unwrap() > 0.0, "{cpu}");
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check"]
fn on_a_gpu_the_check_sees_the_driver_cuda_and_nvdec() {
    let (code, r) = gpu_check();
    println!("{}", serde_json::to_string_pretty(&r).unwrap());
    assert!(code == 0 || code == 3, "exit {code}");
    assert_eq!(r["gpu"]["available"], true);
    assert_eq!(r["cuda"]["available"], true);
    assert!(r["nvdec"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["codec"] == "h264" && c["available"] == true));
    // Exit 3 exactly when NVENC does not open, with its reason.
    assert_eq!(code == 3, r["nvenc_h264"]["available"] == false);
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check"]
fn on_a_gpu_with_nvenc_a_file_transcodes_on_nvenc() {
    let (_, r) = gpu_check();
    if r["nvenc_h264"]["available"] != true {
        println!(
            "not run: NVENC does not open here: {}",
            r["nvenc_h264"]["reason"]
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("in.flv");
    make_clip(&clip, 6);
    let out = dir.path().join("out");
    let done = run(livefleet()
        .args(["transcode"])
        .arg(&clip)
        .args(["--encoder", "nvenc", "--profile"])
        .arg(profile("cpu-small.yaml"))
        .arg("--out")
        .arg(&out));
    assert!(done.status.success(), "{}", text(&done.stderr));
    assert!(out.join("master.m3u8").exists());
}

/// A transcode with `--decoder` and `--encoder` on this machine: (success, stdout, stderr).
fn transcode_on(decoder: &str, encoder: &str) -> (bool, String, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("in.flv");
    make_clip(&clip, 4);
    let done = run(livefleet()
        .args(["transcode"])
        .arg(&clip)
        .args(["--decoder", decoder, "--encoder", encoder, "--profile"])
        .arg(profile("cpu-small.yaml"))
        .arg("--out")
        .arg(dir.path().join("out")));
    (
        done.status.success(),
        text(&done.stdout),
        text(&done.stderr),
        dir,
    )
}

#[test]
fn without_a_gpu_auto_decodes_on_the_cpu_and_says_why_once() {
    if gpu_here() {
        return;
    }
    let (ok, out, err, dir) = transcode_on("auto", "x264");
    assert!(ok, "{err}");
    assert!(out.contains("video path cpu"), "{out}");
    let lines: Vec<_> = err.lines().filter(|l| l.contains("video path")).collect();
    assert_eq!(lines.len(), 1, "one line per channel: {err}");
    assert!(
        lines[0].contains("NVDEC not used") && lines[0].contains("libcuda"),
        "the reason names the missing driver: {}",
        lines[0]
    );
    assert!(dir.path().join("out/master.m3u8").exists());
}

#[test]
fn without_a_gpu_an_nvdec_only_transcode_is_refused_with_the_reason() {
    if gpu_here() {
        return;
    }
    let (ok, _, err, dir) = transcode_on("nvdec", "x264");
    assert!(!ok, "decoder: nvdec must not run on the CPU: {err}");
    assert!(
        err.contains("NVDEC was requested") && err.contains("libcuda"),
        "{err}"
    );
    let out = dir.path().join("out");
    let master = std::fs::read_to_string(out.join("master.m3u8")).unwrap_or_default();
    assert!(
        !master.contains("#EXT-X-ENDLIST"),
        "nothing looks complete after a refusal"
    );
}

/// On a GPU machine: every path gpu-check says is available transcodes a
/// file on that path, without falling back.
#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check"]
fn on_a_gpu_each_available_path_transcodes_on_itself() {
    let (_, r) = gpu_check();
    for (mode, decoder, encoder) in [
        ("zero_copy", "nvdec", "nvenc"),
        ("upload", "cpu", "nvenc"),
        ("hybrid", "nvdec", "x264"),
    ] {
        let m = r["modes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["mode"] == mode)
            .unwrap();
        if m["available"] != true {
            println!("{mode}: not available here: {}", m["reason"]);
            continue;
        }
        let (ok, out, err, dir) = transcode_on(decoder, encoder);
        assert!(ok, "{mode}: {err}");
        assert!(out.contains(&format!("video path {mode}")), "{mode}: {out}");
        let errors = decode_errors(&dir.path().join("out/360p/index.m3u8"));
        assert!(errors.is_empty(), "{mode}: the output decodes: {errors}");
        println!("{mode}: {out}");
    }
}
