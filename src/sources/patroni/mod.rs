//! Patroni, the HA manager most clusters run under (SPEC §8): its REST replies as data
//! ([`api`]), Patroni's own rule for whom it would promote ([`candidate`]), and the REST
//! client that fetches them ([`client`]).

pub mod api;
pub mod candidate;
pub mod client;
