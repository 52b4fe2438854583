//! PURE text helpers: one-line messages for every error path, and the byte figures (with the
//! bundled alerts' lag thresholds) that `check`, `status` and the landing page show.

/// 512 MiB and 1 GiB: the warning and critical lag thresholds of the bundled alerts.
pub const WARN_BYTES: u64 = 512 << 20;

pub const CRIT_BYTES: u64 = 1 << 30;

/// Bytes as a short human figure (IEC units).
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// A message folded onto one line: each line trimmed, blank ones dropped, joined with "; ".
/// Error messages from libraries may span lines; a log line or an exit message must not.
pub fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_trimmed_blank_ones_dropped_and_joined() {
        assert_eq!(one_line("  a\n\n b \nc"), "a; b; c");
        assert_eq!(one_line(""), "");
    }
}
