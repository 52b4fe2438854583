//! PURE core: no I/O, no async, no clock. The types every room shares ([`model`], [`lsn`]), the
//! `synchronous_standby_names` parser ([`syncnames`]), the one per-stage lag rule ([`stage`]),
//! and the cluster view computed from a round of node reports ([`cluster`]). Each is a plain
//! function over plain data, tested with tables.

pub mod cluster;
pub mod lsn;
pub mod model;
pub mod stage;
pub mod syncnames;
pub mod text;
