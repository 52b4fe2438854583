//! The wall clock, in the form every room uses: seconds since the Unix epoch as a float (the
//! precision of PostgreSQL's timestamps). The pure rooms take it as an argument instead.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::core::model::UnixTime;

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> UnixTime {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
