//! PURE: the one per-stage lag rule for a walsender row (SPEC §4.3), used by `/metrics` and by
//! `status` alike so that the two can never disagree.
//!
//! Lag is measured from the sending node's own position (`NodeState::wal_lsn`: the current LSN
//! on a primary, the replay LSN on a cascading standby) to each stage's LSN. The stages are
//! cumulative (sent ≤ write ≤ flush ≤ replay in lag): a stage is never ahead of the one before
//! it. Right after a reconnect the walsender resends from the start of a segment while the
//! standby reports the (later) positions it already has; those readings are held back to the
//! earlier stage's position. An unknown stage does not constrain the next one.

use crate::core::lsn::Lsn;
use crate::core::model::Walsender;

/// Bytes behind the sender, per stage; `None` when the sender's position or the stage is
/// unknown (NULL, or hidden without pg_monitor). Never a made-up 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageLag {
    pub sent: Option<u64>,
    pub write: Option<u64>,
    pub flush: Option<u64>,
    pub replay: Option<u64>,
}

/// The stages' positions after the cumulative rule: each held back to the nearest known earlier
/// stage.
pub fn positions(ws: &Walsender) -> [Option<Lsn>; 4] {
    let held = |earlier: Option<Lsn>, lsn: Option<Lsn>| match (earlier, lsn) {
        (Some(e), Some(l)) => Some(e.min(l)),
        (_, l) => l,
    };
    let sent = ws.sent_lsn;
    let write = held(sent, ws.write_lsn);
    let flush = held(write.or(sent), ws.flush_lsn);
    let replay = held(flush.or(write).or(sent), ws.replay_lsn);
    [sent, write, flush, replay]
}

/// Per-stage lag of `ws` behind `sender` (the position of the node that lists it).
pub fn lag(sender: Option<Lsn>, ws: &Walsender) -> StageLag {
    let [sent, write, flush, replay] = positions(ws).map(|p| Some(sender?.bytes_since(p?)));
    StageLag {
        sent,
        write,
        flush,
        replay,
    }
}

/// A stage's time lag from its interval column: PostgreSQL sets the `*_lag` columns to NULL once
/// a standby has caught up and the primary is idle, so only an exact byte lag of 0 turns that
/// NULL into a true 0; any other NULL stays unknown.
pub fn seconds(interval: Option<f64>, lag_bytes: Option<u64>) -> Option<f64> {
    match interval {
        Some(s) => Some(s),
        None if lag_bytes == Some(0) => Some(0.0),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POS: u64 = 0x3_0000_0000;

    fn ws(
        sent: Option<u64>,
        write: Option<u64>,
        flush: Option<u64>,
        replay: Option<u64>,
    ) -> Walsender {
        Walsender {
            application_name: "node_b".into(),
            sent_lsn: sent.map(Lsn),
            write_lsn: write.map(Lsn),
            flush_lsn: flush.map(Lsn),
            replay_lsn: replay.map(Lsn),
            ..Walsender::default()
        }
    }

    fn lag_of(w: &Walsender) -> [Option<u64>; 4] {
        let l = lag(Some(Lsn(POS)), w);
        [l.sent, l.write, l.flush, l.replay]
    }

    #[test]
    fn stage_lag_table() {
        let k = 1024;
        let cases = [
            // (what, sent, write, flush, replay) → (lag per stage)
            (
                "caught up",
                [Some(POS), Some(POS), Some(POS), Some(POS)],
                [Some(0), Some(0), Some(0), Some(0)],
            ),
            (
                "behind, in order",
                [
                    Some(POS),
                    Some(POS - k),
                    Some(POS - 2 * k),
                    Some(POS - 4 * k),
                ],
                [Some(0), Some(k), Some(2 * k), Some(4 * k)],
            ),
            // A reconnect: the walsender restarts sending at the segment start (behind what
            // the standby already wrote, flushed and replayed): every later stage is held at
            // sent's position, so the lag never reads smaller at a later stage.
            (
                "reconnect resends from the segment start",
                [
                    Some(POS - 16 * k),
                    Some(POS - k),
                    Some(POS - k),
                    Some(POS - 2 * k),
                ],
                [Some(16 * k), Some(16 * k), Some(16 * k), Some(16 * k)],
            ),
            (
                "flush ahead of write",
                [
                    Some(POS),
                    Some(POS - 8 * k),
                    Some(POS - k),
                    Some(POS - 9 * k),
                ],
                [Some(0), Some(8 * k), Some(8 * k), Some(9 * k)],
            ),
            (
                "an unknown stage does not constrain the next",
                [Some(POS), None, Some(POS - k), None],
                [Some(0), None, Some(k), None],
            ),
            (
                "all hidden",
                [None, None, None, None],
                [None, None, None, None],
            ),
        ];
        for (what, [s, w, f, r], want) in cases {
            assert_eq!(lag_of(&ws(s, w, f, r)), want, "{what}");
        }
    }

    #[test]
    fn unknown_sender_position_is_unknown_lag() {
        let w = ws(Some(POS), Some(POS), Some(POS), Some(POS));
        assert_eq!(lag(None, &w), StageLag::default());
    }

    #[test]
    fn null_interval_is_zero_only_when_caught_up() {
        assert_eq!(seconds(Some(0.25), Some(100)), Some(0.25));
        assert_eq!(seconds(None, Some(0)), Some(0.0));
        assert_eq!(seconds(None, Some(1)), None);
        assert_eq!(seconds(None, None), None);
    }
}
