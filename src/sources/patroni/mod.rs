//! Patroni, the HA manager most clusters run under (SPEC §8): its REST replies as data
//! ([`api`]) and Patroni's own rule for whom it would promote ([`candidate`]).

pub mod api;
pub mod candidate;
