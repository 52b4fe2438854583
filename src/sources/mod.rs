//! Sources other than PostgreSQL itself that the exporter polls, one room each. Each room
//! parses what its program says into plain data and judges it with pure functions; the pollers
//! that fetch it live beside them.

pub mod endpoints;
pub mod patroni;
