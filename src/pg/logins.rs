//! The process-wide login budget: every new session (a node's first login, a reconnect after a
//! failure or after the server closed an idle session) takes a turn here first, so that a
//! thousand nodes starting together, or a server restart dropping hundreds of sessions at once,
//! become a steady stream of logins instead of a stampede.
//!
//! A turn is bounded two ways: at most [`MAX_IN_FLIGHT`] logins (connect, SCRAM handshake,
//! session set-up) in flight at once, and at most [`PER_SECOND`] starting per second. A SCRAM
//! login costs the client 4096 HMAC rounds of CPU on the runtime's worker threads, and the server
//! a new backend; without a bound, hundreds of them at once starve the polls of the sessions
//! already open, those polls time out, their sessions are dropped and log in again: the overload
//! feeds itself.
//!
//! Waiting for a turn is not part of a poll: the poll timeout starts with the turn. A node asks
//! with a patience (what is left of its round), and when its turn has not come it keeps its place
//! in the queue for its next round. Turns go oldest place first among the nodes waiting at that
//! moment, so that a node between two rounds holds nobody up and loses no seniority.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Logins in flight at once, process-wide. A login on loopback takes 10–80 ms under load (the
/// client's SCRAM rounds, a backend fork, the session's statements: prepared, then the first
/// full read), so 16 in flight sustain [`PER_SECOND`] (8 held a 1002-node start to ≈ 100/s,
/// 15 s to every node up, BENCHMARKS.md run 6).
pub const MAX_IN_FLIGHT: usize = 16;

/// Logins started per second, process-wide: 1000 nodes are all logged in within seven seconds,
/// while the logins' own CPU (about 1.5 ms of the exporter's per SCRAM login, measured at 1002
/// nodes) stays under a quarter of a core.
pub const PER_SECOND: u32 = 150;

/// Why a node has no session yet while it waits: its `last_error` (not counted as an error).
pub const WAITING: &str = "waiting for a login turn (new sessions are rate-limited process-wide)";

/// The budget; [`Logins::global`] is the one the pollers share.
pub struct Logins {
    max_in_flight: usize,
    spacing: Duration,
    state: Mutex<State>,
}

struct State {
    in_flight: usize,
    /// The earliest start of the next login.
    next_start: Option<Instant>,
    next_ticket: u64,
    /// The places waiting right now, oldest first, each with how to wake it.
    waiting: BTreeMap<u64, Arc<Notify>>,
}

impl State {
    /// Wakes the oldest waiting place: something it may be waiting for changed.
    fn wake_head(&self) {
        if let Some(notify) = self.waiting.values().next() {
            notify.notify_one();
        }
    }
}

/// A place in the queue, kept across rounds until its turn comes.
pub struct Place {
    logins: Arc<Logins>,
    ticket: u64,
    notify: Arc<Notify>,
}

/// A login's turn: it counts as in flight until dropped (when the session is set up, or the
/// login failed or timed out).
pub struct Turn {
    logins: Arc<Logins>,
}

static GLOBAL: LazyLock<Arc<Logins>> = LazyLock::new(|| Logins::new(MAX_IN_FLIGHT, PER_SECOND));

impl Logins {
    /// A budget of `max_in_flight` logins at once (at least one) and `per_second` starts per
    /// second (at least one).
    pub fn new(max_in_flight: usize, per_second: u32) -> Arc<Logins> {
        Arc::new(Logins {
            max_in_flight: max_in_flight.max(1),
            spacing: Duration::from_secs(1) / per_second.max(1),
            state: Mutex::new(State {
                in_flight: 0,
                next_start: None,
                next_ticket: 0,
                waiting: BTreeMap::new(),
            }),
        })
    }

    /// The process-wide budget.
    pub fn global() -> &'static Arc<Logins> {
        &GLOBAL
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new place at the back of the queue.
    pub fn place(self: &Arc<Self>) -> Place {
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        Place {
            logins: self.clone(),
            ticket,
            notify: Arc::new(Notify::new()),
        }
    }

    /// A turn at once, only when nobody is waiting for one and the budget allows it now.
    pub fn turn_now(self: &Arc<Self>) -> Option<Turn> {
        let mut state = self.lock();
        if !state.waiting.is_empty() {
            return None;
        }
        self.grant(&mut state, Instant::now()).ok()
    }

    /// Logins in flight now.
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight
    }

    /// A turn when the budget allows one now; else when the rate alone stands in the way, the
    /// instant it will not.
    fn grant(self: &Arc<Self>, state: &mut State, now: Instant) -> Result<Turn, Option<Instant>> {
        if state.in_flight >= self.max_in_flight {
            return Err(None);
        }
        if let Some(at) = state.next_start.filter(|at| *at > now) {
            return Err(Some(at));
        }
        state.in_flight += 1;
        state.next_start = Some(now + self.spacing);
        Ok(Turn {
            logins: self.clone(),
        })
    }

    /// The turn of `ticket` if it is the oldest waiting place and the budget allows.
    fn try_turn(self: &Arc<Self>, ticket: u64) -> Result<Turn, Option<Instant>> {
        let mut state = self.lock();
        if state.waiting.keys().next() != Some(&ticket) {
            return Err(None);
        }
        let turn = self.grant(&mut state, Instant::now())?;
        state.waiting.remove(&ticket);
        // The next place now heads the queue: it waits for the rate from here.
        state.wake_head();
        Ok(turn)
    }
}

impl Place {
    /// Waits at most `patience` for this place's turn (`Duration::MAX`: until it comes).
    /// `None`: not yet; the place keeps its seniority for the next call (a zero patience only
    /// looks).
    pub async fn turn(&mut self, patience: Duration) -> Option<Turn> {
        let deadline = Instant::now().checked_add(patience);
        let _present = Present::enter(self);
        loop {
            let wake = match self.logins.try_turn(self.ticket) {
                Ok(turn) => return Some(turn),
                Err(wake) => wake,
            };
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            let until = match (wake, deadline) {
                (Some(at), Some(d)) => Some(at.min(d)),
                (at, d) => at.or(d),
            };
            match until {
                Some(until) => tokio::select! {
                    () = self.notify.notified() => {}
                    () = tokio::time::sleep_until(until) => {}
                },
                None => self.notify.notified().await,
            }
        }
    }
}

/// A place inside [`Place::turn`]: listed among the waiting while there, removed on the way out
/// (a turn, the patience spent, or the poll abandoned).
struct Present<'a> {
    place: &'a Place,
}

impl<'a> Present<'a> {
    fn enter(place: &'a Place) -> Present<'a> {
        place
            .logins
            .lock()
            .waiting
            .insert(place.ticket, place.notify.clone());
        Present { place }
    }
}

impl Drop for Present<'_> {
    fn drop(&mut self) {
        let mut state = self.place.logins.lock();
        let was_head = state.waiting.keys().next() == Some(&self.place.ticket);
        if state.waiting.remove(&self.place.ticket).is_some() && was_head {
            state.wake_head();
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut state = self.logins.lock();
        state.in_flight -= 1;
        state.wake_head();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test(start_paused = true)]
    async fn starts_are_spaced_by_the_rate() {
        let logins = Logins::new(100, 10);
        let t0 = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..5 {
            let mut place = logins.place();
            let turn = place.turn(Duration::from_secs(10)).await.expect("a turn");
            starts.push(t0.elapsed());
            drop(turn);
        }
        assert_eq!(starts, [0, 100, 200, 300, 400].map(|n| n * MS));
    }

    #[tokio::test(start_paused = true)]
    async fn no_more_than_max_in_flight_and_a_release_lets_the_next_in() {
        let logins = Logins::new(2, 1000);
        let mut a = logins.place();
        let mut b = logins.place();
        let mut c = logins.place();
        let ta = a.turn(MS * 10).await.expect("first");
        let tb = b.turn(MS * 10).await.expect("second");
        assert_eq!(logins.in_flight(), 2);
        assert!(
            c.turn(MS * 50).await.is_none(),
            "two in flight: the third waits"
        );
        let waiter = tokio::spawn(async move { c.turn(Duration::from_secs(10)).await.is_some() });
        tokio::time::sleep(MS * 30).await;
        let released = Instant::now();
        drop(ta);
        assert!(waiter.await.unwrap(), "a released turn goes to the waiter");
        assert!(released.elapsed() < MS * 2, "{:?}", released.elapsed());
        drop(tb);
        assert_eq!(
            logins.in_flight(),
            0,
            "the waiter's turn was dropped with its task"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_place_keeps_its_seniority_between_rounds() {
        let logins = Logins::new(1, 1000);
        let mut busy = logins.place();
        let held = busy.turn(MS).await.unwrap();
        let mut old = logins.place();
        // Round 1: `old` waits and gives up; a younger place arrives meanwhile.
        assert!(old.turn(MS * 5).await.is_none());
        let mut young = logins.place();
        let young_task = tokio::spawn(async move {
            let turn = young.turn(Duration::from_secs(10)).await;
            (Instant::now(), turn.is_some())
        });
        tokio::time::sleep(MS * 5).await;
        // Round 2: `old` is back before the budget frees up; it goes first.
        let old_task = tokio::spawn(async move {
            let turn = old.turn(Duration::from_secs(10)).await;
            tokio::time::sleep(MS * 20).await;
            (Instant::now(), turn.is_some())
        });
        tokio::time::sleep(MS * 5).await;
        drop(held);
        let (old_done, old_ok) = old_task.await.unwrap();
        let (young_at, young_ok) = young_task.await.unwrap();
        assert!(old_ok && young_ok);
        assert!(
            young_at >= old_done,
            "the younger place got its turn only once the older one's was released"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_absent_place_holds_nobody_up() {
        let logins = Logins::new(1, 1000);
        // The oldest place asked once and went away (its node between two rounds).
        let mut absent = logins.place();
        let mut present = logins.place();
        let held = logins.turn_now().expect("nobody waits");
        assert!(absent.turn(Duration::ZERO).await.is_none());
        drop(held);
        assert!(
            present.turn(MS * 5).await.is_some(),
            "the oldest place present gets the turn"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unbounded_patience_waits_for_the_turn() {
        let logins = Logins::new(1, 10);
        let t0 = Instant::now();
        let mut places: Vec<Place> = (0..3).map(|_| logins.place()).collect();
        for place in &mut places {
            drop(
                place
                    .turn(Duration::MAX)
                    .await
                    .expect("a turn, however long"),
            );
        }
        assert_eq!(t0.elapsed(), MS * 200, "three logins at 10/s");
    }

    #[tokio::test(start_paused = true)]
    async fn turn_now_never_jumps_the_queue() {
        let logins = Logins::new(1, 1000);
        let held = logins.turn_now().expect("idle budget");
        assert!(logins.turn_now().is_none(), "one in flight at most");
        let mut waiter = logins.place();
        let task = tokio::spawn(async move { waiter.turn(Duration::from_secs(1)).await.is_some() });
        tokio::time::sleep(MS).await;
        drop(held);
        assert!(
            logins.turn_now().is_none(),
            "someone waits: no turn out of order"
        );
        assert!(task.await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn a_crowd_is_served_at_the_rate_and_within_the_bound() {
        let logins = Logins::new(3, 50);
        let peak = Arc::new(AtomicUsize::new(0));
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..100u32 {
            let logins = logins.clone();
            let peak = peak.clone();
            tasks.push(tokio::spawn(async move {
                // Nodes of clusters whose rounds are spread over a 1 s interval (as the runner
                // spreads them), each waiting at most 200 ms of its round.
                tokio::time::sleep(MS * (i * 37 % 1000)).await;
                let mut place = logins.place();
                loop {
                    if let Some(turn) = place.turn(MS * 200).await {
                        peak.fetch_max(logins.in_flight(), Ordering::SeqCst);
                        // Handshakes of 5 to 95 ms.
                        tokio::time::sleep(MS * (5 + i % 10 * 10)).await;
                        drop(turn);
                        return;
                    }
                    tokio::time::sleep(MS * 800).await;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert!(peak.load(Ordering::SeqCst) <= 3);
        let took = t0.elapsed();
        // 100 logins at 50/s: two seconds of starts; then the last few, each present 200 ms of
        // every second, wait up to one more round for their try.
        assert!(took >= MS * 1980, "{took:?}");
        assert!(took < MS * 3300, "{took:?}");
        assert_eq!(logins.in_flight(), 0);
        assert!(logins.lock().waiting.is_empty());
    }
}
