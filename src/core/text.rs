//! PURE text helpers shared by every error path.

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
