//! PURE: a reply of the simple query protocol as text (`SHOW POOL_NODES`, `SHOW DATABASES`, …):
//! column names and rows of nullable strings, read by column name so that the parsers take the
//! column sets of every pgpool-II and pgbouncer release. The recorded fixtures under
//! tests/fixtures/{pgpool,pgbouncer} have this shape.

use serde::Deserialize;

/// One result set.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl Table {
    /// The index of `name`, if the reply has that column.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Rows as lookups by column name.
    pub fn records(&self) -> impl Iterator<Item = Record<'_>> {
        self.rows.iter().map(move |row| Record { table: self, row })
    }

    /// The first result set of a simple query reply.
    pub fn from_messages(messages: &[tokio_postgres::SimpleQueryMessage]) -> Table {
        use tokio_postgres::SimpleQueryMessage as M;
        let mut t = Table::default();
        for m in messages {
            match m {
                M::RowDescription(cols) if t.columns.is_empty() => {
                    t.columns = cols.iter().map(|c| c.name().to_owned()).collect();
                }
                M::Row(row) => {
                    if t.columns.is_empty() {
                        t.columns = row.columns().iter().map(|c| c.name().to_owned()).collect();
                    }
                    t.rows.push(
                        (0..row.len())
                            .map(|i| row.get(i).map(str::to_owned))
                            .collect(),
                    );
                }
                M::CommandComplete(_) if !t.columns.is_empty() || !t.rows.is_empty() => break,
                _ => {}
            }
        }
        t
    }
}

/// One row, read by column name.
#[derive(Clone, Copy)]
pub struct Record<'a> {
    table: &'a Table,
    row: &'a [Option<String>],
}

impl<'a> Record<'a> {
    /// The value of column `name`; `None` when the column is missing, NULL or empty.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        let i = self.table.column(name)?;
        self.row
            .get(i)?
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    /// Column `name` as a number.
    pub fn parse<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.get(name)?.parse().ok()
    }
}
