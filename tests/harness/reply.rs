//! A reply of the simple query protocol kept as text, the way pgpool-II's `SHOW POOL_NODES` and
//! pgbouncer's admin console send it: column names and every value as the text on the wire
//! (None for NULL). The harness' ground truth for the front-ends, and the shape of the recorded
//! fixtures under tests/fixtures/{pgpool,pgbouncer}/.

use std::sync::mpsc;
use std::time::Duration;

use postgres::{Client, SimpleQueryMessage};

use super::cluster::pg_error;

/// Columns and rows of one statement's reply, all text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl Reply {
    /// Run one statement with `simple_query` and keep its reply (the first result set's columns,
    /// even when it has no rows).
    pub fn simple_query(client: &mut Client, sql: &str) -> Result<Reply, String> {
        let messages = client
            .simple_query(sql)
            .map_err(|e| format!("{sql}: {}", pg_error(&e)))?;
        let mut reply = Reply::default();
        for m in messages {
            match m {
                SimpleQueryMessage::RowDescription(cols) if reply.columns.is_empty() => {
                    reply.columns = cols.iter().map(|c| c.name().to_string()).collect();
                }
                SimpleQueryMessage::Row(row) => {
                    if reply.columns.is_empty() {
                        reply.columns =
                            row.columns().iter().map(|c| c.name().to_string()).collect();
                    }
                    reply.rows.push(
                        (0..row.len())
                            .map(|i| row.get(i).map(str::to_string))
                            .collect(),
                    );
                }
                _ => {}
            }
        }
        Ok(reply)
    }

    /// The index of column `name`; panics listing the columns when there is none.
    pub fn column(&self, name: &str) -> usize {
        self.columns
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("no column {name:?} in {:?}", self.columns))
    }

    /// The value of column `col` in row `row` (None for NULL).
    pub fn get(&self, row: usize, col: &str) -> Option<&str> {
        self.rows[row][self.column(col)].as_deref()
    }

    /// The first row whose column `key_col` reads `key`.
    pub fn find(&self, key_col: &str, key: &str) -> Option<usize> {
        let k = self.column(key_col);
        self.rows.iter().position(|r| r[k].as_deref() == Some(key))
    }

    /// Column `col` of the first row whose `key_col` reads `key`; None when there is no such row
    /// or the value is NULL.
    pub fn cell(&self, key_col: &str, key: &str, col: &str) -> Option<&str> {
        self.find(key_col, key).and_then(|r| self.get(r, col))
    }

    /// The fixture file's JSON, keys in this order: program, command, recorded, columns, rows
    /// (one row a line).
    pub fn fixture_json(&self, program: &str, command: &str, recorded: &str) -> String {
        let s = |v: &str| serde_json::to_string(v).unwrap();
        let cols: Vec<String> = self.columns.iter().map(|c| s(c)).collect();
        let rows: Vec<String> = self
            .rows
            .iter()
            .map(|r| {
                let vals: Vec<String> = r
                    .iter()
                    .map(|v| v.as_deref().map_or_else(|| "null".to_string(), s))
                    .collect();
                format!("    [{}]", vals.join(", "))
            })
            .collect();
        format!(
            "{{\n  \"program\": {},\n  \"command\": {},\n  \"recorded\": {},\n  \"columns\": [{}],\n  \
             \"rows\": [\n{}\n  ]\n}}\n",
            s(program),
            s(command),
            s(recorded),
            cols.join(", "),
            rows.join(",\n")
        )
    }

    /// The reply as an aligned text table, for failure messages.
    pub fn table(&self) -> String {
        let cell = |v: &Option<String>| v.clone().unwrap_or_else(|| "NULL".to_string());
        let mut widths: Vec<usize> = self.columns.iter().map(String::len).collect();
        for r in &self.rows {
            for (i, v) in r.iter().enumerate() {
                widths[i] = widths[i].max(cell(v).len());
            }
        }
        let line = |vals: Vec<String>| {
            vals.iter()
                .enumerate()
                .map(|(i, v)| format!("{v:<w$}", w = widths[i]))
                .collect::<Vec<_>>()
                .join(" | ")
        };
        let mut out = line(self.columns.clone());
        for r in &self.rows {
            out.push('\n');
            out.push_str(&line(r.iter().map(cell).collect()));
        }
        out
    }
}

/// Run `f` on another thread and wait at most `timeout` for it: a query through a front-end may
/// hang (a frozen backend, a SIGSTOPped pgbouncer) and a wait or a failure dump must not.
pub fn bounded<T: Send + 'static>(
    timeout: Duration,
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(timeout)
        .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
}
