//! HDR sources (OBS's HDR streams, a phone's HLG video): the H.264 ladder is
//! tone mapped to SDR, as the ffmpeg CLI's documented recipe makes it,
//! instead of showing HDR code values as SDR ones (grey, washed out); a
//! passthrough copy stays HDR.

use super::*;
use common::enhanced_rtmp::publish_enhanced;
use orientation::{first_frame_psnr, first_segment_file};

/// The ffmpeg documentation's HDR to SDR recipe (zimg and `tonemap`).
const CLI_TONE_MAP: &str = "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,\
    tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv,format=yuv420p";

/// A 4 s 640x360 HEVC 10-bit clip of testsrc2 carried into BT.2020 with the
/// transfer `trc` (`smpte2084`, `arib-std-b67`) and tagged so, as an HDR
/// camera or OBS writes it; a keyframe every 2 s.
fn hdr_clip(path: &Path, trc: &str) {
    let into = format!(
        "format=yuv420p,zscale=tin=bt709:pin=bt709:min=bt709:rin=limited:\
         t={trc}:p=bt2020:m=bt2020nc:r=limited:npl=100,format=yuv420p10le"
    );
    let x265 = format!(
        "log-level=error:keyint=60:min-keyint=60:open-gop=0:\
         colorprim=bt2020:transfer={trc}:colormatrix=bt2020nc"
    );
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine=sample_rate=48000",
        "-t",
        "4",
        "-vf",
        &into,
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
        "-x265-params",
        &x265,
        "-color_primaries",
        "bt2020",
        "-color_trc",
        trc,
        "-colorspace",
        "bt2020nc",
        "-tag:v",
        "hvc1",
        "-c:a",
        "aac",
        path.to_str().unwrap(),
    ]);
}

/// The first frame of `input` through `filter` (and scaled to `size`), encoded near losslessly.
fn reference(input: &Path, filter: &str, size: &str, out: &Path) {
    let filter = format!("{filter},scale={size}");
    ffmpeg(&[
        "-i",
        input.to_str().unwrap(),
        "-vf",
        &filter,
        "-frames:v",
        "1",
        "-c:v",
        "libx264",
        "-crf",
        "10",
        out.to_str().unwrap(),
    ]);
}

/// The average saturation of the first frame (signalstats' SATAVG).
fn saturation(input: &Path) -> f64 {
    let out = run(Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(input)
        .args([
            "-vf",
            "signalstats,metadata=print:key=lavfi.signalstats.SATAVG",
            "-frames:v",
            "1",
            "-f",
            "null",
            "-",
        ]));
    text(&out.stderr)
        .lines()
        .find_map(|l| l.split("SATAVG=").nth(1)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no SATAVG: {}", text(&out.stderr)))
}

/// Ours against the CLI's tone-mapped picture and its untouched one (HDR
/// code values shown as SDR): close to the first, far from the second, and
/// as saturated as the first.
fn assert_tone_mapped(source: &Path, ours: &Path, size: &str, tmp: &Path) {
    let mapped = tmp.join("mapped.mp4");
    let untouched = tmp.join("untouched.mp4");
    reference(source, CLI_TONE_MAP, size, &mapped);
    reference(source, "format=yuv420p", size, &untouched);
    let (near, far) = (
        first_frame_psnr(ours, &mapped),
        first_frame_psnr(ours, &untouched),
    );
    assert!(
        near > 30.0 && near > far + 8.0,
        "against the CLI's tone map: {near:.1} dB, against the HDR values as SDR: {far:.1} dB"
    );
    let (s_ours, s_mapped, s_untouched) = (
        saturation(ours),
        saturation(&mapped),
        saturation(&untouched),
    );
    assert!(
        (s_ours / s_mapped - 1.0).abs() < 0.1 && s_ours > 1.4 * s_untouched,
        "saturation: ours {s_ours:.1}, tone mapped {s_mapped:.1}, untouched {s_untouched:.1}"
    );
}

#[test]
fn hdr_files_are_tone_mapped_for_the_ladder() {
    for trc in ["arib-std-b67", "smpte2084"] {
        let tmp = tempfile::tempdir().unwrap();
        let clip = tmp.path().join("hdr.mp4");
        hdr_clip(&clip, trc);
        let out = tmp.path().join("out");
        let done = transcode(&clip, &out);
        assert!(done.status.success(), "{trc}: {}", text(&done.stderr));
        assert!(
            text(&done.stderr).contains("tone mapping"),
            "{}",
            text(&done.stderr)
        );
        // cpu-small's 360p is the source's size: the tone map alone.
        let ours = first_segment_file(&out.join("360p"), tmp.path());
        // SDR BT.709 after the tone map, and it says so: players read it as such.
        let (_, pix) = probe_last_segment(
            &out.join("360p"),
            "stream=pix_fmt,color_range,color_space,color_transfer,color_primaries",
        );
        assert_eq!(pix, "yuv420p,tv,bt709,bt709,bt709", "{trc}");
        assert_tone_mapped(&clip, &ours, "640:360", tmp.path());
    }
}

/// OBS streaming HDR (HEVC, Rec. 2100 PQ) over Enhanced RTMP with a
/// passthrough profile: the copy keeps PQ and says so in the manifests, the
/// H.264 rung is tone mapped.
#[test]
fn an_hdr_publish_is_tone_mapped_and_its_copy_stays_hdr() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("pq.mp4");
    hdr_clip(&clip, "smpte2084");
    let dev = passthrough_dev("hdr", tmp.path());
    publish_enhanced(&dev.publish_url, &clip).unwrap();
    let dir = dev.channel_dir();
    dev.wait_for(40, "ENDLIST after the grace period", || {
        fs::read_to_string(dir.join("240p/index.m3u8")).is_ok_and(|t| t.contains("ENDLIST"))
    });
    let (_, copy) = probe_last_segment(&dir.join("source"), "stream=codec_name,color_transfer");
    assert_eq!(copy, "hevc,smpte2084");
    // Players learn it before they fetch a segment: HLS VIDEO-RANGE, the
    // MPD's CICP properties (an adaptation set of its own).
    let master = fs::read_to_string(dir.join("master.m3u8")).unwrap();
    let variant = |name: &str| {
        let lines: Vec<&str> = master.lines().collect();
        let at = lines
            .iter()
            .position(|l| *l == format!("{name}/index.m3u8"))
            .unwrap_or_else(|| panic!("no {name} in {master}"));
        lines[at - 1].to_string()
    };
    assert!(variant("source").contains(",VIDEO-RANGE=PQ"), "{master}");
    assert!(!variant("240p").contains("VIDEO-RANGE"), "{master}");
    let mpd = fs::read_to_string(dir.join("manifest.mpd")).unwrap();
    assert!(
        mpd.contains("<EssentialProperty schemeIdUri=\"urn:mpeg:mpegB:cicp:TransferCharacteristics\" value=\"16\"/>"),
        "{mpd}"
    );
    let ours = first_segment_file(&dir.join("240p"), tmp.path());
    assert_tone_mapped(&clip, &ours, "426:240", tmp.path());
}
