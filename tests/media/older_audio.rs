//! Publishers whose audio is not AAC: MP3 (what `ffmpeg -f flv` sends when
//! no audio codec is named) and G.711 from IP cameras. The worker decodes
//! them and the ladder's audio is AAC, heard in every session.

use super::*;

#[test]
fn mp3_and_g711_publishers_are_heard_in_the_aac_ladder() {
    let tmp = tempfile::tempdir().unwrap();
    let dev = Dev::start("oldaudio", &["--grace", "8"]);
    // A later -c:a overrides the helper's AAC.
    publish(
        &dev.publish_url,
        "640x360",
        7,
        true,
        &["-c:a", "libmp3lame"],
    );
    publish(
        &dev.publish_url,
        "640x360",
        7,
        true,
        &["-c:a", "pcm_mulaw", "-ar", "8000", "-ac", "1"],
    );
    let dir = dev.channel_dir();
    dev.wait_for(40, "ENDLIST after the grace period", || {
        fs::read_to_string(dir.join("audio/index.m3u8")).is_ok_and(|t| t.contains("ENDLIST"))
    });
    let video = fs::read_to_string(dir.join("360p/index.m3u8")).unwrap();
    let audio = fs::read_to_string(dir.join("audio/index.m3u8")).unwrap();
    let (v, _) = playlist_entries(&video);
    let (a, disc) = playlist_entries(&audio);
    assert_eq!(a, v, "audio has a segment for every video segment: {audio}");
    assert_eq!(
        disc.len(),
        1,
        "one discontinuity, at the reconnect: {audio}"
    );
    // Each publish session, read with the init segment its segments name.
    let inits = periods(&dir.join("audio"));
    let init_of = |segment: &String| {
        inits
            .iter()
            .find(|(_, list)| list.contains(segment))
            .map(|(map, _)| map.clone())
            .unwrap()
    };
    for (i, segments) in [&a[..disc[0]], &a[disc[0]..]].into_iter().enumerate() {
        let joined = tmp.path().join(format!("session{i}.mp4"));
        let mut bytes = fs::read(dir.join("audio").join(init_of(&segments[0]))).unwrap();
        for s in segments {
            bytes.extend(fs::read(dir.join("audio").join(s)).unwrap());
        }
        fs::write(&joined, bytes).unwrap();
        let codec = run(Command::new("ffprobe")
            .args(["-v", "error", "-show_entries", "stream=codec_name"])
            .args(["-of", "csv=p=0"])
            .arg(&joined));
        assert_eq!(text(&codec.stdout).trim(), "aac", "session {i}");
        let mean = mean_volume(&joined);
        assert!(mean > -40.0, "session {i} is silent ({mean} dB): {audio}");
        let seconds = probed_seconds(&joined);
        assert!(seconds > 5.0, "session {i} has {seconds} s of audio");
    }
    let errors = decode_errors(&dir.join("master.m3u8"));
    assert!(errors.trim().is_empty(), "{errors}");
}
