//! Parser for the `synchronous_standby_names` setting, following PostgreSQL's own grammar
//! (`src/backend/replication/syncrep_scanner.l` and `syncrep_gram.y`), so that the exporter reads
//! the setting exactly as the server does.
//!
//! Accepted forms (the same as PostgreSQL 10 and later):
//!
//! | text                 | method  | required | names        |
//! |----------------------|---------|----------|--------------|
//! | `FIRST 2 (a, b, c)`  | first   | 2        | a, b, c      |
//! | `ANY 2 (a, b, c)`    | any     | 2        | a, b, c      |
//! | `2 (a, b, c)`        | first   | 2        | a, b, c  (the 9.6 syntax) |
//! | `a, b`               | first   | 1        | a, b         |
//! | `*`                  | first   | 1        | `*` (any standby) |
//! | empty or blank       | no synchronous replication (`parse` returns `Ok(None)`) |
//!
//! Lexical rules, as in PostgreSQL's scanner:
//! - `ANY` and `FIRST` are keywords in any letter case; a standby really named `first` or `any`
//!   must be double-quoted.
//! - An unquoted name starts with a letter, `_` or any non-ASCII character and continues with
//!   those, digits and `$`. A run of digits is also a valid name (`1, 2`). Anything else outside
//!   quotes (a `-`, a `.`, a `;`) is a syntax error — which is why member names such as
//!   `pg-node-1` must be written `"pg-node-1"`.
//! - A double-quoted name may contain anything; `""` inside it stands for one `"`.
//! - The number of synchronous standbys must be greater than zero; PostgreSQL refuses `ANY 0 (a)`
//!   and so do we. A number larger than the list (`FIRST 3 (a, b)`) is accepted, as PostgreSQL
//!   does: commits then wait forever, which is exactly what the `sync_standbys_required` vs
//!   `sync_standbys_healthy` alert is there to show.
//!
//! Names keep the spelling they were written with; matching a standby's `application_name` is
//! ASCII case-insensitive for quoted and unquoted names alike (PostgreSQL compares with
//! `pg_strcasecmp`), and the name `*` matches every standby.
//!
//! Two deliberate differences from the server, both harmless because the exporter only reads a
//! value the server already accepted: a blank (whitespace-only) value means "no synchronous
//! replication" here, where the server would reject it; and a count that does not fit in
//! PostgreSQL's `int` is an error here, where the server's `atoi` would wrap it.

use std::fmt;

/// How the listed standbys are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SyncMethod {
    /// Priority-based: the first `num_sync` connected standbys in list order are synchronous.
    First,
    /// Quorum-based: commits wait for any `num_sync` of the listed standbys.
    Any,
}

/// A parsed, non-empty `synchronous_standby_names`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncStandbyNames {
    pub method: SyncMethod,
    /// How many standbys must confirm a commit (always ≥ 1).
    pub num_sync: u32,
    /// Standby names as written (quotes removed, `""` unescaped). `*` means any standby.
    pub names: Vec<String>,
}

/// Why a `synchronous_standby_names` value could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SyncNamesError {
    #[error("invalid synchronous_standby_names: unterminated quoted name starting at byte {at}")]
    UnterminatedQuote { at: usize },
    #[error("invalid synchronous_standby_names: syntax error at or near {near:?} (byte {at})")]
    Syntax { near: String, at: usize },
    #[error("invalid synchronous_standby_names: syntax error at end of input")]
    UnexpectedEnd,
    #[error(
        "invalid synchronous_standby_names: number of synchronous standbys (0) must be greater than zero"
    )]
    ZeroStandbys,
    #[error("invalid synchronous_standby_names: number of synchronous standbys {0:?} is too large")]
    NumberTooLarge(String),
}

impl SyncStandbyNames {
    /// How many standbys must confirm each commit.
    pub fn required(&self) -> u32 {
        self.num_sync
    }

    /// Whether a standby connecting with this `application_name` is a candidate for synchronous
    /// replication.
    pub fn lists(&self, application_name: &str) -> bool {
        self.names
            .iter()
            .any(|name| name == "*" || name.eq_ignore_ascii_case(application_name))
    }
}

impl fmt::Display for SyncMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SyncMethod::First => "FIRST",
            SyncMethod::Any => "ANY",
        })
    }
}

/// What `pg_replication_sync_standbys_required` exports: 0 when the setting is empty, N
/// otherwise; `None` when it cannot be parsed (the series is then absent, not 0).
pub fn required(s: &str) -> Option<u32> {
    match parse(s) {
        Ok(None) => Some(0),
        Ok(Some(config)) => Some(config.required()),
        Err(_) => None,
    }
}

/// Parses a `synchronous_standby_names` value. `Ok(None)` means synchronous replication is off.
pub fn parse(s: &str) -> Result<Option<SyncStandbyNames>, SyncNamesError> {
    let tokens = scan(s)?;
    if tokens.is_empty() {
        return Ok(None);
    }
    Parser {
        tokens: &tokens,
        pos: 0,
    }
    .config()
    .map(Some)
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Any,
    First,
    /// An unquoted identifier, a quoted name, or `*`.
    Name(String),
    /// A run of digits: a count, or a standby name made of digits.
    Num(String),
    Comma,
    Open,
    Close,
}

/// A token, the byte offset where it starts and its source text, for error messages.
type Spanned<'a> = (Tok, usize, &'a str);

/// PostgreSQL's `{space}`: note `\v`, which `char::is_ascii_whitespace` does not include.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c' | '\x0b')
}

/// `ident_start`: the scanner works on bytes and admits every byte ≥ 0x80, i.e. every non-ASCII
/// character of a UTF-8 string.
fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || !c.is_ascii()
}

fn is_ident_cont(c: char) -> bool {
    is_ident_start(c) || c.is_ascii_digit() || c == '$'
}

/// Error text quoting the input is bounded so that a huge value cannot produce a huge log line.
fn near(s: &str) -> String {
    const MAX: usize = 32;
    let mut out: String = s.chars().take(MAX).collect();
    if s.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}

fn scan(s: &str) -> Result<Vec<Spanned<'_>>, SyncNamesError> {
    let mut tokens = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let tok = match c {
            c if is_space(c) => continue,
            ',' => Tok::Comma,
            '(' => Tok::Open,
            ')' => Tok::Close,
            '*' => Tok::Name("*".to_owned()),
            '"' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        None => return Err(SyncNamesError::UnterminatedQuote { at }),
                        Some((_, '"')) => {
                            if chars.next_if(|&(_, c)| c == '"').is_some() {
                                name.push('"');
                            } else {
                                break;
                            }
                        }
                        Some((_, c)) => name.push(c),
                    }
                }
                Tok::Name(name)
            }
            c if c.is_ascii_digit() => {
                // Digits stop at the first non-digit, as in flex: "1abc" is NUM then NAME, which
                // the grammar then rejects.
                let mut end = at + c.len_utf8();
                while let Some((i, d)) = chars.next_if(|&(_, d)| d.is_ascii_digit()) {
                    end = i + d.len_utf8();
                }
                Tok::Num(s[at..end].to_owned())
            }
            c if is_ident_start(c) => {
                let mut end = at + c.len_utf8();
                while let Some((i, d)) = chars.next_if(|&(_, d)| is_ident_cont(d)) {
                    end = i + d.len_utf8();
                }
                let word = &s[at..end];
                // Flex prefers the longest match, so only the whole word is a keyword:
                // "anything" and "first_node" are names.
                if word.eq_ignore_ascii_case("any") {
                    Tok::Any
                } else if word.eq_ignore_ascii_case("first") {
                    Tok::First
                } else {
                    Tok::Name(word.to_owned())
                }
            }
            _ => {
                return Err(SyncNamesError::Syntax {
                    near: near(&s[at..]),
                    at,
                });
            }
        };
        let end = chars.peek().map_or(s.len(), |&(i, _)| i);
        tokens.push((tok, at, &s[at..end]));
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: &'a [Spanned<'a>],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self, ahead: usize) -> Option<&Tok> {
        self.tokens.get(self.pos + ahead).map(|(t, _, _)| t)
    }

    fn unexpected(&self) -> SyncNamesError {
        match self.tokens.get(self.pos) {
            None => SyncNamesError::UnexpectedEnd,
            Some((_, at, text)) => SyncNamesError::Syntax {
                near: near(text),
                at: *at,
            },
        }
    }

    fn expect(&mut self, want: &Tok) -> Result<(), SyncNamesError> {
        if self.peek(0) == Some(want) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    /// standby_config: standby_list | NUM '(' list ')' | ANY NUM '(' list ')' | FIRST NUM '(' list ')'
    fn config(mut self) -> Result<SyncStandbyNames, SyncNamesError> {
        let (method, num_sync) = match (self.peek(0), self.peek(1)) {
            (Some(Tok::Any), _) | (Some(Tok::First), _) => {
                let method = if self.peek(0) == Some(&Tok::Any) {
                    SyncMethod::Any
                } else {
                    SyncMethod::First
                };
                self.pos += 1;
                (method, Some(self.count()?))
            }
            // A leading number is a count only when a '(' follows; otherwise it is a name.
            (Some(Tok::Num(_)), Some(Tok::Open)) => (SyncMethod::First, Some(self.count()?)),
            _ => (SyncMethod::First, None),
        };
        let names = if num_sync.is_some() {
            self.expect(&Tok::Open)?;
            let names = self.list()?;
            self.expect(&Tok::Close)?;
            names
        } else {
            self.list()?
        };
        if self.pos != self.tokens.len() {
            return Err(self.unexpected());
        }
        Ok(SyncStandbyNames {
            method,
            num_sync: num_sync.unwrap_or(1),
            names,
        })
    }

    fn count(&mut self) -> Result<u32, SyncNamesError> {
        let Some(Tok::Num(digits)) = self.peek(0) else {
            return Err(self.unexpected());
        };
        // PostgreSQL stores the count in an `int`.
        let n = digits
            .parse::<u32>()
            .ok()
            .filter(|n| i32::try_from(*n).is_ok())
            .ok_or_else(|| SyncNamesError::NumberTooLarge(near(digits)))?;
        if n == 0 {
            return Err(SyncNamesError::ZeroStandbys);
        }
        self.pos += 1;
        Ok(n)
    }

    /// standby_list: standby_name (',' standby_name)*, where standby_name is NAME or NUM.
    fn list(&mut self) -> Result<Vec<String>, SyncNamesError> {
        let mut names = Vec::new();
        loop {
            match self.peek(0) {
                Some(Tok::Name(name)) | Some(Tok::Num(name)) => {
                    names.push(name.clone());
                    self.pos += 1;
                }
                _ => return Err(self.unexpected()),
            }
            if self.peek(0) == Some(&Tok::Comma) {
                self.pos += 1;
            } else {
                return Ok(names);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(method: SyncMethod, num_sync: u32, names: &[&str]) -> Option<SyncStandbyNames> {
        Some(SyncStandbyNames {
            method,
            num_sync,
            names: names.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn accepts_every_form_postgres_accepts() {
        use SyncMethod::{Any, First};
        let cases = [
            ("", None),
            ("   \t\n", None),
            ("FIRST 2 (a, b, c)", ok(First, 2, &["a", "b", "c"])),
            ("first 1 (a)", ok(First, 1, &["a"])),
            ("ANY 2 (a, b, c)", ok(Any, 2, &["a", "b", "c"])),
            ("aNy 1(a,b)", ok(Any, 1, &["a", "b"])),
            ("2 (a, b)", ok(First, 2, &["a", "b"])),
            ("a, b", ok(First, 1, &["a", "b"])),
            ("a", ok(First, 1, &["a"])),
            ("*", ok(First, 1, &["*"])),
            ("ANY 1 (*)", ok(Any, 1, &["*"])),
            ("ANY 2 (node_a, *)", ok(Any, 2, &["node_a", "*"])),
            // Digits alone are a name when no '(' follows.
            ("1", ok(First, 1, &["1"])),
            ("1, 2", ok(First, 1, &["1", "2"])),
            ("FIRST 1 (1, 22)", ok(First, 1, &["1", "22"])),
            // N larger than the list: PostgreSQL accepts it (commits then wait forever).
            ("FIRST 3 (a)", ok(First, 3, &["a"])),
            ("ANY 5 (a, b)", ok(Any, 5, &["a", "b"])),
            // Quoted names keep their case and may contain anything.
            (r#""Node-A", "b c""#, ok(First, 1, &["Node-A", "b c"])),
            (r#"ANY 1 ("first", "any")"#, ok(Any, 1, &["first", "any"])),
            (r#""say ""hi""""#, ok(First, 1, &[r#"say "hi""#])),
            (r#""""#, ok(First, 1, &[""])),
            (r#""(a, b)""#, ok(First, 1, &["(a, b)"])),
            // Unquoted names keep their spelling; matching is case-insensitive.
            (
                "FIRST 1 (NodeA, node_B)",
                ok(First, 1, &["NodeA", "node_B"]),
            ),
            ("a$b, _x9", ok(First, 1, &["a$b", "_x9"])),
            (
                "anything, first_node",
                ok(First, 1, &["anything", "first_node"]),
            ),
            ("nœud_ä", ok(First, 1, &["nœud_ä"])),
            ("\x0bFIRST\x0c1\r(\ta\n)\x0b", ok(First, 1, &["a"])),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), Ok(want.clone()), "{text:?}");
            let req = want.map_or(0, |c| c.num_sync);
            assert_eq!(required(text), Some(req), "{text:?}");
        }
    }

    #[test]
    fn rejects_what_postgres_rejects() {
        use SyncNamesError::*;
        let cases: &[(&str, SyncNamesError)] = &[
            (
                "ANY (a)",
                Syntax {
                    near: "(".into(),
                    at: 4,
                },
            ),
            (
                "FIRST (a)",
                Syntax {
                    near: "(".into(),
                    at: 6,
                },
            ),
            ("ANY 0 (a)", ZeroStandbys),
            ("0 (a)", ZeroStandbys),
            ("FIRST 00 (a)", ZeroStandbys),
            ("ANY 2147483648 (a)", NumberTooLarge("2147483648".into())),
            (
                "ANY 99999999999999999999 (a)",
                NumberTooLarge("99999999999999999999".into()),
            ),
            ("ANY 1 (a", UnexpectedEnd),
            (
                "ANY 1 a)",
                Syntax {
                    near: "a".into(),
                    at: 6,
                },
            ),
            (
                "ANY 1 (a))",
                Syntax {
                    near: ")".into(),
                    at: 9,
                },
            ),
            (
                "ANY 1 ((a))",
                Syntax {
                    near: "(".into(),
                    at: 7,
                },
            ),
            (
                "ANY 1 ()",
                Syntax {
                    near: ")".into(),
                    at: 7,
                },
            ),
            ("a,", UnexpectedEnd),
            (
                ",a",
                Syntax {
                    near: ",".into(),
                    at: 0,
                },
            ),
            (
                "a,,b",
                Syntax {
                    near: ",".into(),
                    at: 2,
                },
            ),
            (
                "a b",
                Syntax {
                    near: "b".into(),
                    at: 2,
                },
            ),
            ("ANY", UnexpectedEnd),
            ("ANY 1", UnexpectedEnd),
            ("first", UnexpectedEnd),
            (
                "any, b",
                Syntax {
                    near: ",".into(),
                    at: 3,
                },
            ),
            (
                "ANY 1 (first)",
                Syntax {
                    near: "first".into(),
                    at: 7,
                },
            ),
            (
                "pg-node-1",
                Syntax {
                    near: "-node-1".into(),
                    at: 2,
                },
            ),
            (
                "1abc",
                Syntax {
                    near: "abc".into(),
                    at: 1,
                },
            ),
            (
                "-1 (a)",
                Syntax {
                    near: "-1 (a)".into(),
                    at: 0,
                },
            ),
            (
                "a; DROP TABLE x",
                Syntax {
                    near: "; DROP TABLE x".into(),
                    at: 1,
                },
            ),
            (
                r#"ANY 2 ("a", "b") c"#,
                Syntax {
                    near: "c".into(),
                    at: 17,
                },
            ),
            (r#""unterminated"#, UnterminatedQuote { at: 0 }),
            (r#"a, "b"#, UnterminatedQuote { at: 3 }),
            (
                "ANY 1 (a) FIRST 1 (b)",
                Syntax {
                    near: "FIRST".into(),
                    at: 10,
                },
            ),
            (
                "2 (a), b",
                Syntax {
                    near: ",".into(),
                    at: 5,
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).as_ref(), Err(want), "{text:?}");
            assert_eq!(required(text), None, "{text:?}");
        }
    }

    #[test]
    fn error_messages_name_the_setting_and_the_spot() {
        let err = parse("FIRST 1 (a, b-c)").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid synchronous_standby_names: syntax error at or near "-c)" (byte 13)"#
        );
        let long = format!("a,{}", "é".repeat(10_000));
        let err = parse(&format!("{long}!")).unwrap_err();
        assert!(err.to_string().len() < 200, "{err}");
    }

    #[test]
    fn matching_is_case_insensitive_and_star_matches_all() {
        let c = parse(r#"FIRST 1 (Node_A, "node-B")"#).unwrap().unwrap();
        assert!(c.lists("node_a"));
        assert!(c.lists("NODE_A"));
        assert!(c.lists("Node-b"));
        assert!(!c.lists("node_c"));
        assert!(!c.lists("node"));
        assert!(!c.lists(""));
        let star = parse("ANY 1 (x, *)").unwrap().unwrap();
        assert!(star.lists("whatever"));
        assert!(star.lists(""));
        // A quoted "*" is the same name to PostgreSQL.
        assert!(parse(r#""*""#).unwrap().unwrap().lists("anyone"));
    }

    #[test]
    fn never_panics_on_nasty_input() {
        let long_list = vec!["n"; 50_000].join(",");
        let deep = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
        let inputs = [
            "\0",
            "\u{feff}a",
            "🦀, 🐘",
            "ANY 1 (🦀)",
            "\"",
            "\"\"\"",
            "(",
            ")",
            "()",
            ",",
            "*,*,*",
            "**",
            "ANY 1 (a,)",
            "ANY 1 (a,,)",
            "FIRST 4294967295 (a)",
            "FIRST 4294967296 (a)",
            "1 (",
            "1 ()",
            "ANY ANY 1 (a)",
            "$a",
            "a$",
            "é\u{301}",
            "\u{202e}ANY 1 (a)",
            &long_list,
            &deep,
        ];
        for text in inputs {
            let _ = parse(text);
            let _ = required(text);
        }
        assert_eq!(parse(&long_list).unwrap().unwrap().names.len(), 50_000);
        assert!(parse(&deep).is_err());
        assert_eq!(parse("🦀, 🐘").unwrap().unwrap().names, ["🦀", "🐘"]);
        assert_eq!(
            parse("\u{feff}a").unwrap().unwrap().names,
            ["\u{feff}a"],
            "non-ASCII characters are identifier characters, as in PostgreSQL's byte scanner"
        );
    }
}
