//! Small helpers used across the crate.

/// Lower-case hexadecimal of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The current time as RFC 3339 in UTC, the format of every stored and returned time.
pub fn now_rfc3339() -> String {
    rfc3339(time::OffsetDateTime::now_utc())
}

/// `t` as RFC 3339 in UTC with second precision.
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .expect("UTC times format as RFC 3339")
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_and_times() {
        assert_eq!(super::hex(&[0, 15, 255]), "000fff");
        let t = super::now_rfc3339();
        assert!(t.ends_with('Z') && t.len() == 20, "{t}");
    }
}
