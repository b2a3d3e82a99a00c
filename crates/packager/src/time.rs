//! Wall-clock and duration formatting for manifests (no clock is read here).

pub(crate) use livefleet_base::clock::iso8601;

/// An xs:duration in seconds with millisecond precision, e.g. `PT2S`, `PT12.345S`.
pub(crate) fn duration(seconds: f64) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    if ms.is_multiple_of(1000) {
        format!("PT{}S", ms / 1000)
    } else {
        let s = format!("{}.{:03}", ms / 1000, ms % 1000);
        format!("PT{}S", s.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(2.0), "PT2S");
        assert_eq!(duration(12.34), "PT12.34S");
    }
}
