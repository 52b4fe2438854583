//! Where values come from.

use super::*;

pub(super) const ENV_SOURCE: &str = "pg_replication_exporter environment";
pub(super) const FLAG_SOURCE: &str = "pg_replication_exporter flags";

/// `PG_REPLICATION_EXPORTER_POLL__INTERVAL=2s` → `poll.interval = "2s"`, from an explicit list
/// so that tests need not touch the process environment. Same key mapping as figment's
/// `Env::prefixed(ENV_PREFIX).split("__")`, but values stay strings: figment's value parser would
/// turn "[::1]:9999" into an array.
pub(super) struct EnvProvider {
    /// (dotted lowercase key, variable name as given)
    pub(super) vars: Vec<(String, String, String)>,
}

impl EnvProvider {
    pub(super) fn new(env: &[(String, String)]) -> Self {
        let mut vars = Vec::new();
        for (name, value) in env {
            let Some(rest) = name
                .get(..ENV_PREFIX.len())
                .filter(|p| p.eq_ignore_ascii_case(ENV_PREFIX))
                .map(|_| &name[ENV_PREFIX.len()..])
            else {
                continue;
            };
            let key = rest.to_ascii_lowercase().replace("__", ".");
            if key.split('.').any(str::is_empty) {
                continue;
            }
            vars.push((key, name.clone(), value.clone()));
        }
        EnvProvider { vars }
    }
}

impl Provider for &EnvProvider {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENV_SOURCE)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut root = Dict::new();
        for (key, _, value) in &self.vars {
            insert_nested(&mut root, key, Value::from(value.as_str()));
        }
        Ok(Map::from([(Profile::Default, root)]))
    }
}

pub(super) struct FlagProvider(pub(super) Overrides);

impl FlagProvider {
    const FLAGS: [(&'static str, &'static str); 3] = [
        ("web.listen_address", "--web.listen-address"),
        ("web.telemetry_path", "--web.telemetry-path"),
        ("web.config_file", "--web.config.file"),
    ];
}

impl Provider for FlagProvider {
    fn metadata(&self) -> Metadata {
        Metadata::named(FLAG_SOURCE)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut root = Dict::new();
        let o = &self.0;
        let values = [
            o.listen_address.clone(),
            o.telemetry_path.clone(),
            o.web_config_file
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
        ];
        for ((key, _), value) in Self::FLAGS.iter().zip(values) {
            if let Some(v) = value {
                insert_nested(&mut root, key, Value::from(v.as_str()));
            }
        }
        Ok(Map::from([(Profile::Default, root)]))
    }
}

pub(super) fn insert_nested(dict: &mut Dict, dotted: &str, value: Value) {
    match dotted.split_once('.') {
        None => {
            dict.insert(dotted.to_owned(), value);
        }
        Some((head, rest)) => {
            let entry = dict
                .entry(head.to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert_nested(inner, rest, value);
            }
        }
    }
}

/// The merged figment plus what is needed to say where a value came from.
pub(super) struct Ctx<'a> {
    pub(super) figment: Figment,
    pub(super) file_label: String,
    pub(super) env_vars: Vec<(String, String, String)>,
    pub(super) env: &'a [(String, String)],
}

impl Ctx<'_> {
    /// Where the value at `key` (dotted, array indices as numbers) came from, if it is set.
    pub(super) fn origin_of(&self, key: &str) -> Option<String> {
        self.find_tag(key, true).map(|tag| self.describe(tag, key))
    }

    /// For a value that is absent: the origin of its nearest present ancestor (where it should
    /// have been written), or the file.
    pub(super) fn origin_of_parent(&self, key: &str) -> String {
        self.find_tag(key, false)
            .map(|tag| self.describe(tag, key))
            .unwrap_or_else(|| format!("in {}", self.file_label))
    }

    pub(super) fn find_tag(&self, key: &str, exact: bool) -> Option<figment::value::Tag> {
        let mut segments = key.split('.');
        let mut value = self.figment.find_value(segments.next()?).ok()?;
        for segment in segments {
            let next = match &value {
                Value::Dict(_, dict) => dict.get(segment).cloned(),
                Value::Array(_, items) => segment
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| items.get(i).cloned()),
                _ => None,
            };
            match next {
                Some(v) => value = v,
                None if exact => return None,
                None => break,
            }
        }
        Some(value.tag())
    }

    pub(super) fn describe(&self, tag: figment::value::Tag, key: &str) -> String {
        self.describe_metadata(self.figment.get_metadata(tag), key)
    }

    pub(super) fn describe_metadata(&self, metadata: Option<&Metadata>, key: &str) -> String {
        match metadata.map(|m| m.name.as_ref()) {
            Some(ENV_SOURCE) => {
                // The variable whose key is the longest prefix of `key` (or, for a table made
                // only of variables, any variable below it).
                let best = self
                    .env_vars
                    .iter()
                    .filter(|(k, _, _)| is_key_prefix(k, key))
                    .max_by_key(|(k, _, _)| k.len())
                    .or_else(|| self.env_vars.iter().find(|(k, _, _)| is_key_prefix(key, k)));
                match best {
                    Some((_, name, _)) => format!("from environment variable {name}"),
                    None => "from the environment".to_owned(),
                }
            }
            Some(FLAG_SOURCE) => FlagProvider::FLAGS
                .iter()
                .find(|(k, _)| is_key_prefix(k, key))
                .map(|(_, flag)| format!("from flag {flag}"))
                .unwrap_or_else(|| "from a command-line flag".to_owned()),
            _ => format!("in {}", self.file_label),
        }
    }

    /// An error about a value that is set (or else has its documented default).
    pub(super) fn err(&self, key: &str, problem: impl Into<String>) -> ConfigError {
        let origin = self.origin_of(key).unwrap_or_else(|| "default".to_owned());
        ConfigError::new(Some(render_key(key)), problem, Some(origin))
    }

    /// An error about a value that is required but absent.
    pub(super) fn err_missing(&self, key: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError::new(
            Some(render_key(key)),
            problem,
            Some(self.origin_of_parent(key)),
        )
    }

    pub(super) fn figment_error(&self, error: figment::Error) -> ConfigError {
        use figment::error::Kind;
        // Figment chains several errors only when several providers fail; the first is enough.
        let error = error
            .into_iter()
            .next()
            .expect("an error holds at least one");
        let mut path = error.path.join(".");
        let problem = match &error.kind {
            Kind::UnknownField(field, _) => {
                if path.is_empty() {
                    path = field.clone();
                }
                if field.starts_with("password")
                    && field != "password_file"
                    && field != "password_env"
                {
                    "unknown key (a password comes from password_file, password_env or dsn)"
                        .to_owned()
                } else {
                    "unknown key".to_owned()
                }
            }
            Kind::MissingField(field) => {
                path = if path.is_empty() {
                    field.to_string()
                } else {
                    format!("{path}.{field}")
                };
                return self.err_missing(&path, "required key is missing");
            }
            Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
                let last = path.rsplit('.').next().unwrap_or_default();
                if last == "dsn" || last.starts_with("password") {
                    format!("expected {expected}")
                } else {
                    format!("expected {expected}, found {actual}")
                }
            }
            Kind::UnknownVariant(found, expected) => {
                format!(
                    "invalid value {found:?}, expected one of {}",
                    expected.join(", ")
                )
            }
            Kind::Message(msg) if path.is_empty() => {
                // A provider failed before any key existed: the TOML did not parse.
                return ConfigError::new(
                    None,
                    toml_syntax_message(msg),
                    Some(format!("in {}", self.file_label)),
                );
            }
            other => other.to_string(),
        };
        let origin = if path.is_empty() {
            format!("in {}", self.file_label)
        } else {
            self.describe_metadata(error.metadata.as_ref(), &path)
        };
        let key = (!path.is_empty()).then(|| render_key(&path));
        ConfigError::new(key, problem, Some(origin))
    }

    pub(super) fn env_var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Whether dotted `prefix` equals `key` or is one of its ancestors.
pub(super) fn is_key_prefix(prefix: &str, key: &str) -> bool {
    key == prefix || key.strip_prefix(prefix).is_some_and(|r| r.starts_with('.'))
}

/// `cluster.0.node.1.name` → `cluster[0].node[1].name`.
pub(super) fn render_key(dotted: &str) -> String {
    let mut out = String::new();
    for segment in dotted.split('.') {
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(segment);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(segment);
        }
    }
    out
}

/// The toml crate's error is a multi-line snippet that quotes the offending line, which may hold
/// a dsn with a password: keep its first line and its explanation, drop the quoted source.
pub(super) fn toml_syntax_message(msg: &str) -> String {
    let mut lines = msg.lines();
    let head = lines.next().unwrap_or("syntax error").to_lowercase();
    let explanation: Vec<&str> = lines
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('|') && !l.contains(" |"))
        .filter(|l| !l.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .collect();
    if explanation.is_empty() {
        head
    } else {
        format!("{head}: {}", explanation.join(", "))
    }
}

/// io::Error's Display ends in " (os error 2)", which is noise in a config message.
pub(super) fn io_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}
