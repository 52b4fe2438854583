//! Patroni, the HA manager most clusters run under (SPEC §8): its REST replies as data
//! ([`api`]), Patroni's own rule for whom it would promote ([`candidate`]), and the REST
//! client that fetches them ([`client`]), the task that polls them per cluster ([`source`]), and
//! the pure judgment of a pass against the SQL truth ([`view`]).

pub mod api;
pub mod candidate;
pub mod client;
pub mod source;
pub mod view;
