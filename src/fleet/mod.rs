//! Many clusters, many exporters (SPEC §11): which clusters this exporter owns (`shard`), and
//! the Prometheus HTTP service discovery target groups of the owned ones (`sd`). PURE: both are
//! plain functions of the loaded configuration, so a reload can run them again.

pub mod sd;
pub mod shard;
