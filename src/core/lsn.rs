//! `Lsn`: a PostgreSQL write-ahead-log position (`pg_lsn`), parsed from its `X/Y` text form.
//!
//! All byte lags in the exporter are differences of two `Lsn`s. The difference saturates at zero
//! on purpose: a standby that reports a position ahead of a (slightly older) sample of its sender
//! is caught up, not "minus N bytes" behind.

use std::fmt;
use std::str::FromStr;

/// A WAL position in bytes since the start of the WAL stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

/// Why a text could not be read as an LSN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid LSN {text:?}: expected two hexadecimal numbers of at most 8 digits like \"16/B374D848\""
)]
pub struct ParseLsnError {
    text: String,
}

impl Lsn {
    /// Bytes from `older` to `self`; 0 when `older` is ahead.
    pub fn bytes_since(self, older: Lsn) -> u64 {
        self.0.saturating_sub(older.0)
    }

    /// The position as a float, for gauges (exact up to 2^53 bytes = 8 PiB of WAL).
    pub fn as_f64(self) -> f64 {
        self.0 as f64
    }
}

impl FromStr for Lsn {
    type Err = ParseLsnError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || ParseLsnError {
            text: text.chars().take(64).collect(),
        };
        let (hi, lo) = text.split_once('/').ok_or_else(err)?;
        let part = |s: &str| {
            if s.is_empty() || s.len() > 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err());
            }
            u32::from_str_radix(s, 16).map_err(|_| err())
        };
        Ok(Lsn((u64::from(part(hi)?) << 32) | u64::from(part(lo)?)))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

impl<'de> serde::Deserialize<'de> for Lsn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_postgres_text_forms() {
        let cases = [
            ("0/0", 0u64),
            ("0/16B3748", 0x16B3748),
            ("16/B374D848", 0x16_B374_D848),
            ("FFFFFFFF/FFFFFFFF", u64::MAX),
            ("a/b", 0xA_0000_000B),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<Lsn>(), Ok(Lsn(want)), "{text}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for text in [
            "",
            "/",
            "0/",
            "/0",
            "16B374D848",
            "1/2/3",
            "G/0",
            "0/123456789",
            " 0/1",
            "0/1 ",
            "-1/0",
            "+1/0",
            "0x1/0",
        ] {
            assert!(text.parse::<Lsn>().is_err(), "{text:?} should not parse");
        }
    }

    #[test]
    fn display_round_trips() {
        for v in [0u64, 1, 0x16_B374_D848, u64::MAX, 1 << 32] {
            let lsn = Lsn(v);
            assert_eq!(lsn.to_string().parse::<Lsn>(), Ok(lsn));
        }
        assert_eq!(Lsn(0x16_B374_D848).to_string(), "16/B374D848");
    }

    #[test]
    fn difference_saturates_when_the_older_side_is_ahead() {
        assert_eq!(Lsn(100).bytes_since(Lsn(40)), 60);
        assert_eq!(Lsn(40).bytes_since(Lsn(100)), 0);
        assert_eq!(Lsn(7).bytes_since(Lsn(7)), 0);
    }
}
