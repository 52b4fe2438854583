//! A strict parser of the Prometheus text exposition format 0.0.4, for asserting on what the
//! exporter serves: `# HELP` / `# TYPE` lines, samples with escaped label values, NaN and ±Inf,
//! optional timestamps. Malformed input and duplicate series are errors, so that a test also
//! catches an exporter that renders an invalid page.

use std::collections::BTreeMap;
use std::fmt;

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }

    /// True if every (name, value) pair is among the labels.
    pub fn matches(&self, labels: &[(&str, &str)]) -> bool {
        labels.iter().all(|(k, v)| self.label(k) == Some(*v))
    }
}

impl fmt::Display for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{{", self.name)?;
        for (i, (k, v)) in self.labels.iter().enumerate() {
            write!(f, "{}{k}={v:?}", if i > 0 { "," } else { "" })?;
        }
        write!(f, "}} {}", self.value)
    }
}

/// A parsed `/metrics` page.
#[derive(Clone, Debug)]
pub struct Scrape {
    /// The page as served.
    pub text: String,
    pub samples: Vec<Sample>,
    /// Metric family name → unescaped HELP text.
    pub help: BTreeMap<String, String>,
    /// Metric family name → TYPE (counter, gauge, histogram, summary, untyped).
    pub types: BTreeMap<String, String>,
}

impl Scrape {
    pub fn parse(text: &str) -> Result<Scrape, String> {
        let mut scrape = Scrape {
            text: text.to_string(),
            samples: Vec::new(),
            help: BTreeMap::new(),
            types: BTreeMap::new(),
        };
        let mut seen = std::collections::HashSet::new();
        for (i, line) in text.lines().enumerate() {
            let err = |msg: &str| format!("line {}: {msg}: {line:?}", i + 1);
            let trimmed = line.trim_start();
            if trimmed.is_empty() {
                continue;
            }
            if let Some(comment) = trimmed.strip_prefix('#') {
                let comment = comment.trim_start();
                let (keyword, rest) = comment.split_once(' ').unwrap_or((comment, ""));
                match keyword {
                    "HELP" => {
                        let (name, doc) = rest.split_once(' ').unwrap_or((rest, ""));
                        check_name(name).map_err(|e| err(&e))?;
                        let doc = unescape(doc, false).map_err(|e| err(&e))?;
                        if scrape.help.insert(name.to_string(), doc).is_some() {
                            return Err(err("second HELP for the same metric"));
                        }
                    }
                    "TYPE" => {
                        let (name, kind) = rest.split_once(' ').ok_or_else(|| err("no type"))?;
                        check_name(name).map_err(|e| err(&e))?;
                        let kind = kind.trim();
                        if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind)
                        {
                            return Err(err("unknown metric type"));
                        }
                        if scrape
                            .types
                            .insert(name.to_string(), kind.to_string())
                            .is_some()
                        {
                            return Err(err("second TYPE for the same metric"));
                        }
                    }
                    _ => {} // a plain comment
                }
                continue;
            }
            let sample = parse_sample(trimmed).map_err(|e| err(&e))?;
            if !seen.insert((sample.name.clone(), sample.labels.clone())) {
                return Err(err("duplicate series"));
            }
            scrape.samples.push(sample);
        }
        Ok(scrape)
    }

    /// Samples named `name` whose labels include all of `labels`.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.name == name && s.matches(labels))
            .collect()
    }

    /// The value of the single sample named `name` whose labels include `labels`; None if there
    /// is none; panics if more than one matches (the test's labels are not specific enough).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        match self.find(name, labels).as_slice() {
            [] => None,
            [one] => Some(one.value),
            many => panic!(
                "{} samples of {name} match {labels:?}, expected at most one:\n{}",
                many.len(),
                many.iter()
                    .map(|s| format!("  {s}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        }
    }

    /// Every sample named `name`.
    pub fn all(&self, name: &str) -> Vec<&Sample> {
        self.find(name, &[])
    }

    /// Distinct sample names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.samples.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if ok {
        Ok(())
    } else {
        Err(format!("invalid metric name {name:?}"))
    }
}

/// Undo the format's escapes: `\\` and `\n` everywhere, `\"` in label values only.
fn unescape(s: &str, label_value: bool) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if label_value => out.push('"'),
            // HELP text: a backslash before anything else is taken literally.
            Some(other) if !label_value => {
                out.push('\\');
                out.push(other);
            }
            other => {
                return Err(format!(
                    "invalid escape sequence \\{}",
                    other.unwrap_or(' ')
                ));
            }
        }
    }
    Ok(out)
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ if s.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c)) => {
            s.parse().map_err(|_| format!("invalid value {s:?}"))
        }
        _ => Err(format!("invalid value {s:?}")),
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .ok_or("no value")?;
    let name = &line[..name_end];
    check_name(name)?;
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(mut l) = rest.strip_prefix('{') {
        loop {
            l = l.trim_start();
            if let Some(after) = l.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = l.find('=').ok_or("label without =")?;
            let label = l[..eq].trim();
            check_name(label).map_err(|_| format!("invalid label name {label:?}"))?;
            if label.contains(':') {
                return Err(format!("invalid label name {label:?}"));
            }
            l = l[eq + 1..].trim_start();
            l = l.strip_prefix('"').ok_or("label value not quoted")?;
            // Find the closing quote: the first '"' not escaped by a backslash.
            let mut end = None;
            let mut escaped = false;
            for (i, c) in l.char_indices() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end.ok_or("unterminated label value")?;
            let value = unescape(&l[..end], true)?;
            if labels.insert(label.to_string(), value).is_some() {
                return Err(format!("label {label:?} given twice"));
            }
            l = l[end + 1..].trim_start();
            if let Some(after) = l.strip_prefix(',') {
                l = after;
            } else if !l.starts_with('}') {
                return Err("expected , or } after a label".into());
            }
        }
    }
    let mut fields = rest.split_whitespace();
    let value = parse_value(fields.next().ok_or("no value")?)?;
    let timestamp_ms = match fields.next() {
        Some(t) => Some(t.parse().map_err(|_| format!("invalid timestamp {t:?}"))?),
        None => None,
    };
    if fields.next().is_some() {
        return Err("trailing text after the timestamp".into());
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
        timestamp_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"# HELP pg_replication_up 1 if the last poll succeeded.\nSecond line with a \\ backslash.
# TYPE pg_replication_up gauge
pg_replication_up{cluster="pg",node="primary"} 1
pg_replication_up{cluster="pg",node="standby1"} 0
# a plain comment
# TYPE pg_replication_poll_errors_total counter
pg_replication_poll_errors_total{cluster="pg",kind="connect",node="standby1"} 3 1700000000000
pg_replication_poll_errors_total{ cluster="pg" , kind="auth",node="standby1", } 0
weird{msg="quote \" backslash \\ newline \n end",x="{}=,"} NaN
inf_metric{sign="plus"} +Inf
inf_metric{sign="minus"} -Inf
no_labels 1.5e+09
empty_braces{} -0.25
"#;

    #[test]
    fn parses_help_type_labels_escapes_and_special_values() {
        let s = Scrape::parse(PAGE).unwrap();
        assert_eq!(s.samples.len(), 9);
        assert_eq!(
            s.help["pg_replication_up"],
            "1 if the last poll succeeded.\nSecond line with a \\ backslash."
        );
        assert_eq!(s.types["pg_replication_up"], "gauge");
        assert_eq!(s.types["pg_replication_poll_errors_total"], "counter");
        assert_eq!(
            s.get("pg_replication_up", &[("node", "standby1")]),
            Some(0.0)
        );
        assert_eq!(
            s.get(
                "pg_replication_up",
                &[("cluster", "pg"), ("node", "primary")]
            ),
            Some(1.0)
        );
        assert_eq!(s.get("pg_replication_up", &[("node", "standby9")]), None);
        assert_eq!(s.get("absent_metric", &[]), None);
        let errs = s.find("pg_replication_poll_errors_total", &[("kind", "connect")]);
        assert_eq!(errs[0].timestamp_ms, Some(1_700_000_000_000));
        assert_eq!(
            s.get("pg_replication_poll_errors_total", &[("kind", "auth")]),
            Some(0.0)
        );
        let weird = &s.all("weird")[0];
        assert_eq!(
            weird.label("msg"),
            Some("quote \" backslash \\ newline \n end")
        );
        assert_eq!(weird.label("x"), Some("{}=,"));
        assert!(weird.value.is_nan());
        assert_eq!(
            s.get("inf_metric", &[("sign", "plus")]),
            Some(f64::INFINITY)
        );
        assert_eq!(
            s.get("inf_metric", &[("sign", "minus")]),
            Some(f64::NEG_INFINITY)
        );
        assert_eq!(s.get("no_labels", &[]), Some(1.5e9));
        assert_eq!(s.get("empty_braces", &[]), Some(-0.25));
        assert_eq!(s.all("pg_replication_up").len(), 2);
        assert!(s.names().contains(&"inf_metric"));
    }

    #[test]
    #[should_panic(expected = "2 samples of pg_replication_up match")]
    fn get_panics_when_labels_are_ambiguous() {
        Scrape::parse(PAGE)
            .unwrap()
            .get("pg_replication_up", &[("cluster", "pg")]);
    }

    #[test]
    fn rejects_malformed_pages() {
        for (bad, why) in [
            ("m{a=\"x} 1", "unterminated label value"),
            ("m{a=\"\\t\"} 1", "invalid escape sequence"),
            ("m{a=x} 1", "label value not quoted"),
            ("m{a=\"1\" b=\"2\"} 1", "expected , or }"),
            ("m{a=\"1\",a=\"2\"} 1", "given twice"),
            ("m", "no value"),
            ("m{a=\"1\"}", "no value"),
            ("m one", "invalid value"),
            ("m 1 2 3", "trailing text"),
            ("m 1 soon", "invalid timestamp"),
            ("1m 1", "invalid metric name"),
            ("m{1a=\"1\"} 1", "invalid label name"),
            ("# TYPE m gauge\n# TYPE m counter", "second TYPE"),
            ("# TYPE m gauges", "unknown metric type"),
            ("m{a=\"1\"} 1\nm{a=\"1\"} 2", "duplicate series"),
        ] {
            let err = Scrape::parse(bad).expect_err(bad);
            assert!(err.contains(why), "{bad:?}: got {err:?}, expected {why:?}");
        }
    }
}
