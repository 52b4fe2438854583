//! Property tests of the two parsers that read server text: `Lsn` (`pg_lsn`'s `X/Y` form) and
//! `syncnames::parse` (`synchronous_standby_names`). Each property runs 10,000 generated cases:
//! no input panics, rendering round-trips, and `Lsn` accepts exactly the language
//! `[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}` (checked against a hand-written reference, not a regex).

use pg_replication_exporter::core::lsn::Lsn;
use pg_replication_exporter::core::syncnames::{self, SyncMethod};
use proptest::prelude::*;
use proptest::test_runner::Config;

const CASES: u32 = 10_000;

fn config() -> Config {
    Config {
        cases: CASES,
        // A failing case is reported in the panic; no regression files in the source tree.
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Lsn

/// The accepted language, written out by hand: exactly one '/', on each side 1 to 8 ASCII hex
/// digits, the value being hi << 32 | lo.
fn lsn_reference(s: &str) -> Option<u64> {
    let mut parts = s.split('/');
    let (hi, lo) = (parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let hex = |part: &str| -> Option<u64> {
        let count = part.chars().count();
        if count == 0 || count > 8 {
            return None;
        }
        part.chars().try_fold(0u64, |acc, c| {
            let d = match c {
                '0'..='9' => c as u64 - '0' as u64,
                'a'..='f' => c as u64 - 'a' as u64 + 10,
                'A'..='F' => c as u64 - 'A' as u64 + 10,
                _ => return None,
            };
            Some(acc * 16 + d)
        })
    };
    Some((hex(hi)? << 32) | hex(lo)?)
}

/// Characters that make near misses likely: hex digits of both cases, the separator, signs,
/// whitespace, `x`, `g`, and non-ASCII digits and letters that naive `is_digit`/`to_digit`
/// checks would let through.
fn lsn_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => prop::sample::select("0123456789abcdefABCDEF".chars().collect::<Vec<_>>()),
        2 => Just('/'),
        1 => prop::sample::select(vec![
            ' ', '\t', '\n', '+', '-', 'x', 'X', 'g', 'G', '_', '.', '\0', '٣', '０', 'Ａ', 'é',
            '\u{feff}', '🦀',
        ]),
    ]
}

/// Strings over [`lsn_char`], mostly short enough to sit around the 8-digit limit.
fn lsn_like() -> impl Strategy<Value = String> {
    prop::collection::vec(lsn_char(), 0..22).prop_map(|v| v.into_iter().collect())
}

/// Valid texts with optional leading zeros, in mixed case, up to 8 digits per side.
fn lsn_valid() -> impl Strategy<Value = (String, u64)> {
    (
        any::<u32>(),
        any::<u32>(),
        0usize..8,
        0usize..8,
        any::<bool>(),
    )
        .prop_map(|(hi, lo, pad_hi, pad_lo, upper)| {
            let side = |v: u32, pad: usize| {
                let digits = if upper {
                    format!("{v:X}")
                } else {
                    format!("{v:x}")
                };
                let zeros = pad.min(8 - digits.len());
                format!("{}{digits}", "0".repeat(zeros))
            };
            (
                format!("{}/{}", side(hi, pad_hi), side(lo, pad_lo)),
                (u64::from(hi) << 32) | u64::from(lo),
            )
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn lsn_parse_never_panics(s in any::<String>()) {
        let _ = s.parse::<Lsn>();
    }

    #[test]
    fn lsn_display_round_trips(v in any::<u64>()) {
        let text = Lsn(v).to_string();
        prop_assert_eq!(text.parse::<Lsn>(), Ok(Lsn(v)));
        // PostgreSQL's own spelling: upper case, no leading zeros.
        let (hi, lo) = text.split_once('/').unwrap();
        prop_assert_eq!(hi, format!("{:X}", v >> 32));
        prop_assert_eq!(lo, format!("{:X}", v & 0xFFFF_FFFF));
    }

    #[test]
    fn lsn_accepts_exactly_the_language(s in lsn_like()) {
        prop_assert_eq!(s.parse::<Lsn>().ok().map(|l| l.0), lsn_reference(&s), "{:?}", s);
    }

    #[test]
    fn lsn_accepts_every_valid_text((text, want) in lsn_valid()) {
        prop_assert_eq!(lsn_reference(&text), Some(want), "reference disagrees on {:?}", text);
        prop_assert_eq!(text.parse::<Lsn>(), Ok(Lsn(want)), "{:?}", text);
    }
}

// ---------------------------------------------------------------------------------------------
// synchronous_standby_names

/// How a generated setting is introduced.
#[derive(Clone, Debug)]
enum Form {
    /// `ANY N (…)`, keyword spelled in this case.
    Any(u32, String),
    /// `FIRST N (…)`
    First(u32, String),
    /// `N (…)`, the 9.6 syntax.
    Bare(u32),
    /// `a, b, c`: priority, N = 1.
    List,
}

/// A generated standby name and its text in the setting.
#[derive(Clone, Debug)]
struct Name {
    value: String,
    text: String,
}

/// PostgreSQL's `{space}` characters, `\v` included.
fn ws(min: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![' ', ' ', ' ', '\t', '\n', '\r', '\x0b', '\x0c']),
        min..min + 3,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn random_case(word: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<bool>(), word.len()).prop_map(move |flips| {
        word.chars()
            .zip(flips)
            .map(|(c, up)| {
                if up {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    })
}

/// A count PostgreSQL accepts: 1 ..= i32::MAX, small ones more often.
fn count() -> impl Strategy<Value = u32> {
    prop_oneof![3 => 1u32..10, 1 => 1u32..=i32::MAX as u32]
}

fn non_ascii_char() -> impl Strategy<Value = char> {
    any::<char>().prop_filter("non-ASCII", |c| !c.is_ascii())
}

fn ident_start() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::sample::select(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_".chars().collect::<Vec<_>>()
        ),
        1 => non_ascii_char(),
    ]
}

fn ident_cont() -> impl Strategy<Value = char> {
    prop_oneof![4 => ident_start(), 1 => prop::sample::select("0123456789$".chars().collect::<Vec<_>>())]
}

fn name() -> impl Strategy<Value = Name> {
    let unquoted = (ident_start(), prop::collection::vec(ident_cont(), 0..10))
        .prop_map(|(c, rest)| std::iter::once(c).chain(rest).collect::<String>())
        // A bare ANY / FIRST is a keyword; such a standby must be quoted.
        .prop_filter("keyword", |s| {
            !s.eq_ignore_ascii_case("any") && !s.eq_ignore_ascii_case("first")
        })
        .prop_map(|s| Name {
            text: s.clone(),
            value: s,
        });
    let digits = "[0-9]{1,6}".prop_map(|s| Name {
        text: s.clone(),
        value: s,
    });
    let quoted = prop_oneof![
        3 => prop::collection::vec(any::<char>(), 0..12).prop_map(|v| v.into_iter().collect::<String>()),
        // The characters that matter to the scanner, densely.
        2 => prop::collection::vec(
            prop::sample::select(vec!['"', '"', '\\', ' ', ',', '(', ')', '*', '\n', 'a', '\'', 'é']),
            0..10,
        ).prop_map(|v| v.into_iter().collect::<String>()),
        1 => random_case("any"),
        1 => random_case("first"),
    ]
    .prop_map(|s| Name {
        text: format!("\"{}\"", s.replace('"', "\"\"")),
        value: s,
    });
    prop_oneof![
        4 => unquoted,
        1 => digits,
        3 => quoted,
        1 => Just(Name { value: "*".into(), text: "*".into() }),
    ]
}

fn form() -> impl Strategy<Value = Form> {
    prop_oneof![
        (count(), random_case("any")).prop_map(|(n, k)| Form::Any(n, k)),
        (count(), random_case("first")).prop_map(|(n, k)| Form::First(n, k)),
        count().prop_map(Form::Bare),
        Just(Form::List),
    ]
}

/// A setting as a structure, its rendering with random spacing, and what parse must return.
fn setting() -> impl Strategy<Value = (String, SyncMethod, u32, Vec<String>)> {
    (
        form(),
        prop::collection::vec((name(), ws(0), ws(0)), 1..6),
        ws(0),
        ws(1),
        ws(0),
        ws(0),
        ws(0),
    )
        .prop_map(|(form, names, lead, gap, before_open, inner, trail)| {
            let list = names
                .iter()
                .map(|(n, pre, post)| format!("{pre}{}{post}", n.text))
                .collect::<Vec<_>>()
                .join(",");
            let values = names.iter().map(|(n, _, _)| n.value.clone()).collect();
            let (text, method, num) = match form {
                Form::Any(n, kw) => (
                    format!("{lead}{kw}{gap}{n}{before_open}({inner}{list}){trail}"),
                    SyncMethod::Any,
                    n,
                ),
                Form::First(n, kw) => (
                    format!("{lead}{kw}{gap}{n}{before_open}({inner}{list}){trail}"),
                    SyncMethod::First,
                    n,
                ),
                Form::Bare(n) => (
                    format!("{lead}{n}{before_open}({inner}{list}){trail}"),
                    SyncMethod::First,
                    n,
                ),
                Form::List => (format!("{lead}{list}{trail}"), SyncMethod::First, 1),
            };
            (text, method, num, values)
        })
}

/// Token soup: grammar pieces glued at random, so that most inputs are almost valid.
fn syncnames_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("ANY".to_owned()),
        Just("first".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just(",".to_owned()),
        Just("\"".to_owned()),
        Just("\"\"".to_owned()),
        Just("*".to_owned()),
        Just(" ".to_owned()),
        Just("\x0b".to_owned()),
        "[0-9]{1,12}",
        "[a-z_$é]{1,4}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..16).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn syncnames_never_panics_on_arbitrary_text(s in any::<String>()) {
        let _ = syncnames::parse(&s);
        let _ = syncnames::required(&s);
    }

    #[test]
    fn syncnames_never_panics_on_token_soup(s in syncnames_like()) {
        let parsed = syncnames::parse(&s);
        // `required` is the metric's view of the same parse: 0 for empty, N, or absent.
        let want = match &parsed {
            Ok(None) => Some(0),
            Ok(Some(c)) => Some(c.num_sync),
            Err(_) => None,
        };
        prop_assert_eq!(syncnames::required(&s), want);
        if let Ok(Some(c)) = parsed {
            prop_assert!(c.num_sync >= 1);
            prop_assert!(!c.names.is_empty());
        }
    }

    #[test]
    fn syncnames_round_trips_generated_settings((text, method, num, names) in setting()) {
        let parsed = syncnames::parse(&text);
        prop_assert!(matches!(parsed, Ok(Some(_))), "{:?} → {:?}", text, parsed);
        let c = parsed.unwrap().unwrap();
        prop_assert_eq!(c.method, method, "{:?}", text);
        prop_assert_eq!(c.num_sync, num, "{:?}", text);
        prop_assert_eq!(&c.names, &names, "{:?}", text);
        prop_assert_eq!(syncnames::required(&text), Some(num));
    }

    #[test]
    fn syncnames_lists_is_ascii_case_insensitive(
        (text, _method, _num, names) in setting(),
        flips in prop::collection::vec(any::<bool>(), 64),
        probe in "[a-zA-Z0-9_]{0,8}",
    ) {
        let c = syncnames::parse(&text).unwrap().unwrap();
        let flip = |s: &str| -> String {
            s.chars()
                .zip(flips.iter().cycle())
                .map(|(ch, &up)| if up { ch.to_ascii_uppercase() } else { ch.to_ascii_lowercase() })
                .collect()
        };
        for n in &names {
            prop_assert!(c.lists(n), "{:?} does not list {:?}", text, n);
            prop_assert!(c.lists(&n.to_ascii_uppercase()), "{:?} / {:?}", text, n);
            prop_assert!(c.lists(&n.to_ascii_lowercase()), "{:?} / {:?}", text, n);
            prop_assert!(c.lists(&flip(n)), "{:?} / {:?}", text, flip(n));
        }
        // A name that differs from every listed one (beyond ASCII case) is listed only by '*'.
        let star = names.iter().any(|n| n == "*");
        let differs = names.iter().all(|n| !n.eq_ignore_ascii_case(&probe));
        if differs {
            prop_assert_eq!(c.lists(&probe), star, "{:?} / {:?}", text, probe);
        }
    }
}
