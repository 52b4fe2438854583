//! Patroni, the HA manager most clusters run under (SPEC §8): its REST replies as data
//! ([`api`]).

pub mod api;
