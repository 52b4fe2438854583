//! The README documents every exported metric (the table is the user's reference), and the
//! bundled alerts and dashboards use only metrics the exporter produces.

use pg_replication_exporter::render::defs;

#[test]
fn readme_metrics_table_lists_every_metric_with_its_type() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for def in defs::ALL {
        let kind = match def.kind {
            defs::Kind::Gauge => "gauge",
            defs::Kind::Counter => "counter",
        };
        let row = format!("| `{}` | {kind} | {} |", def.name, def.labels.join(", "));
        assert!(
            readme.contains(&row),
            "README.md lacks the metrics table row starting {row:?}"
        );
    }
}

/// PostgreSQL's own views and functions and the program name, which descriptions may mention.
const POSTGRES_NAMES: &[&str] = &[
    "pg_replication_exporter",
    "pg_replication_slots",
    "pg_replication_slot_advance",
    "pg_replication_origin",
    "pg_replication_origin_status",
];

#[test]
fn alerts_and_dashboards_only_use_exported_metrics() {
    let known: Vec<&str> = defs::ALL.iter().map(|d| d.name).collect();
    let root = concat!(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["alerts", "dashboards"] {
        for entry in std::fs::read_dir(format!("{root}/{dir}"))
            .unwrap()
            .flatten()
        {
            if entry.path().is_file() {
                files.push(entry.path());
            }
        }
    }
    assert!(
        files.len() >= 4,
        "expected rule files and dashboards, found {files:?}"
    );
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("pg_replication_") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(tail.len());
            let name = &tail[..end];
            // A recording rule's name is `pg_replication:...`, and runbook anchors may name
            // alerts; only metric-shaped names must be exported.
            assert!(
                known.contains(&name) || POSTGRES_NAMES.contains(&name),
                "{}: {name} is not a metric the exporter produces",
                file.display()
            );
            rest = &tail[end..];
        }
    }
}
