//! Log lines in logfmt (`ts=… level=warn target=… msg="node is down" node=b kind=timeout …`),
//! what `--log.format=logfmt` promises: one event per line, `key=value` pairs, a value quoted
//! only when it must be (empty, or holding spaces, `"`, `=` or control characters), so that log
//! pipelines (Loki, Vector, `grep node=b`) can parse every line.

use std::fmt::{self, Write as _};
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The logfmt event formatter.
pub struct Logfmt;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut line = String::with_capacity(160);
        pair(
            &mut line,
            "ts",
            &humantime::format_rfc3339_micros(SystemTime::now()).to_string(),
        );
        pair(
            &mut line,
            "level",
            &meta.level().as_str().to_ascii_lowercase(),
        );
        pair(&mut line, "target", meta.target());
        pair(&mut line, "msg", fields.message.as_deref().unwrap_or(""));
        for (key, value) in &fields.pairs {
            pair(&mut line, key, value);
        }
        writeln!(writer, "{line}")
    }
}

#[derive(Default)]
struct Fields {
    message: Option<String>,
    pairs: Vec<(&'static str, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%x` fields arrive here wrapped so that Debug prints their Display form.
        self.push(field, format!("{value:?}"));
    }
}

impl Fields {
    fn push(&mut self, field: &Field, value: String) {
        if field.name() == "message" {
            self.message = Some(value);
        } else {
            self.pairs.push((field.name(), value));
        }
    }
}

/// Appends ` key=value` (no leading space for the first pair), quoting the value if needed.
pub(crate) fn pair(line: &mut String, key: &str, value: &str) {
    if !line.is_empty() {
        line.push(' ');
    }
    line.push_str(key);
    line.push('=');
    let needs_quotes = value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '=' || c.is_control());
    if !needs_quotes {
        line.push_str(value);
        return;
    }
    line.push('"');
    for c in value.chars() {
        match c {
            '"' => line.push_str("\\\""),
            '\\' => line.push_str("\\\\"),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\t' => line.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(line, "\\u{{{:x}}}", c as u32);
            }
            c => line.push(c),
        }
    }
    line.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};

    #[test]
    fn values_are_quoted_only_when_they_must_be() {
        let cases = [
            ("standby1", "k=standby1"),
            ("", "k=\"\""),
            ("two words", "k=\"two words\""),
            ("a=b", "k=\"a=b\""),
            ("say \"hi\"", "k=\"say \\\"hi\\\"\""),
            ("back\\slash", "k=back\\slash"),
            ("line\nbreak", "k=\"line\\nbreak\""),
            ("bell\u{7}", "k=\"bell\\u{7}\""),
        ];
        for (value, want) in cases {
            let mut line = String::new();
            pair(&mut line, "k", value);
            assert_eq!(line, want, "{value:?}");
        }
    }

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_event_is_one_parseable_line() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .event_format(Logfmt)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let node = "node b";
            tracing::warn!(node = %node, kind = "timeout", rounds = 3, "node is down");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        let line = text.trim_end();
        assert!(line.starts_with("ts="), "{line}");
        let rest = &line[line.find(" level=").unwrap()..];
        assert_eq!(
            rest,
            " level=warn target=pg_replication_exporter::logfmt::tests msg=\"node is down\" node=\"node b\" kind=timeout rounds=3"
        );
    }
}
