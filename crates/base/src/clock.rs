//! The one wall clock of livefleet: Unix milliseconds, as stored in records
//! and stamped on manifests (PROGRAM-DATE-TIME, availabilityStartTime).

/// Wall clock now, in Unix milliseconds (0 if the clock is before 1970).
pub fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
