//! Tests of the keepalived VRRP lab of the harness (`VipLab`, tests/harness/keepalived.rs): real
//! keepalived 2.2.7 instances in network namespaces of the test's own, moving a virtual IP
//! between the nodes of a real cluster, reached from the root namespace through a loopback port.
//! Each test prints how long it took and how long the VIP took to move.

mod harness;

use std::time::{Duration, Instant};

use harness::{Cluster, StopMode, VIP_WAIT, VipCheck, VipLab, pg_error, poll_until};

/// The node a session answered from, as the session itself says: the harness names each node's
/// `cluster_name` after it.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    node: String,
    postmaster_start_time: String,
    in_recovery: bool,
}

const IDENTITY_SQL: &str = "SELECT current_setting('cluster_name'), \
     pg_postmaster_start_time()::text, pg_is_in_recovery()";

fn answer(client: &mut postgres::Client) -> Result<Answer, String> {
    let row = client
        .query_one(IDENTITY_SQL, &[])
        .map_err(|e| pg_error(&e))?;
    Ok(Answer {
        node: row.get(0),
        postmaster_start_time: row.get(1),
        in_recovery: row.get(2),
    })
}

/// What a new session through the VIP answers.
fn answer_through(lab: &VipLab) -> Result<Answer, String> {
    answer(&mut lab.conn().map_err(|e| pg_error(&e))?)
}

/// What a direct session to the node `name` answers.
fn answer_direct(c: &Cluster, name: &str) -> Answer {
    answer(&mut c.node(name).conn()).unwrap()
}

/// Wait until a new session through the VIP answers from `node` (the client's ARP entry follows
/// the new holder's gratuitous ARP within moments); return that answer.
fn wait_answer_from(lab: &VipLab, node: &str) -> Answer {
    let mut last = Err("no try yet".to_string());
    let ok = poll_until(Duration::from_secs(10), || {
        last = answer_through(lab);
        last.as_ref().is_ok_and(|a| a.node == node)
    });
    assert!(
        ok,
        "a session through the VIP did not answer from {node} (last: {last:?})\n{}",
        lab.dump()
    );
    last.unwrap()
}

fn report(test: &str, t0: Instant, notes: &str) {
    eprintln!("{test}: {:.1}s in all; {notes}", t0.elapsed().as_secs_f64());
}

#[test]
fn the_vip_starts_on_the_primary() {
    let t0 = Instant::now();
    let c = Cluster::builder().standbys(1).start();
    let lab = VipLab::start(&c, &["primary", "standby1"], VipCheck::Primary);
    let t_lab = Instant::now();
    lab.wait_holder("primary", VIP_WAIT);
    let placed = t_lab.elapsed();
    let through = wait_answer_from(&lab, "primary");
    let direct = answer_direct(&c, "primary");
    assert_eq!(through, direct);
    assert!(!through.in_recovery);
    assert_eq!(lab.holders(), ["primary"]);
    report(
        "the_vip_starts_on_the_primary",
        t0,
        &format!(
            "VIP placed {:.1}s after the lab started",
            placed.as_secs_f64()
        ),
    );
}

#[test]
fn with_the_primary_check_the_vip_follows_a_switchover_and_shuns_the_demoted_primary() {
    let t0 = Instant::now();
    let c = Cluster::builder().standbys(1).start();
    let lab = VipLab::start(&c, &["primary", "standby1"], VipCheck::Primary);
    lab.wait_holder("primary", VIP_WAIT);

    // A switchover: stop the old primary, then promote standby1. While neither node is a
    // writable primary nobody passes the check, and the VIP is nowhere.
    let mark = lab.log_position("primary");
    let t_stop = Instant::now();
    c.primary().stop(StopMode::Fast);
    let released = poll_until(VIP_WAIT, || lab.holders().is_empty());
    assert!(
        released,
        "the VIP stayed on the stopped primary\n{}",
        lab.dump()
    );
    let released = t_stop.elapsed();
    lab.wait_for_log("primary", "Entering FAULT STATE", mark, VIP_WAIT);
    c.standby(1).promote();
    let t_promoted = Instant::now();
    lab.wait_holder("standby1", VIP_WAIT);
    let moved = t_promoted.elapsed();
    let through = wait_answer_from(&lab, "standby1");
    assert_eq!(through, answer_direct(&c, "standby1"));
    assert!(!through.in_recovery);

    // The old primary comes back as a standby of standby1: alive but in recovery, so its check
    // keeps failing, now with exit 1 (in recovery) instead of 2 (no answer), and the VIP stays.
    let mark = lab.log_position("primary");
    c.demote("primary", "standby1");
    lab.wait_for_log(
        "primary",
        "Script `pg_check` now returning 1",
        mark,
        VIP_WAIT,
    );
    assert_eq!(lab.holders(), ["standby1"], "{}", lab.dump());
    assert_eq!(wait_answer_from(&lab, "standby1").node, "standby1");
    report(
        "with_the_primary_check_the_vip_follows_a_switchover_and_shuns_the_demoted_primary",
        t0,
        &format!(
            "VIP released {:.1}s after the primary stopped, on standby1 {:.1}s after its \
             promotion",
            released.as_secs_f64(),
            moved.as_secs_f64()
        ),
    );
}

/// The classic failure: a liveness check cannot tell a demoted primary from a primary. The VIP
/// goes to standby1 while it is still a standby (the old primary is down), and back to the old
/// primary, now a standby, once it answers again: the higher priority preempts.
#[test]
fn with_the_liveness_check_the_vip_ends_on_the_demoted_primary() {
    let t0 = Instant::now();
    let c = Cluster::builder().standbys(1).start();
    let lab = VipLab::start(&c, &["primary", "standby1"], VipCheck::Alive);
    lab.wait_holder("primary", VIP_WAIT);

    let t_stop = Instant::now();
    c.primary().stop(StopMode::Fast);
    lab.wait_holder("standby1", VIP_WAIT);
    let to_standby = t_stop.elapsed();
    let through = wait_answer_from(&lab, "standby1");
    assert!(through.in_recovery, "standby1 is not promoted yet");

    c.standby(1).promote();
    let t_demote = Instant::now();
    c.demote("primary", "standby1");
    lab.wait_holder("primary", VIP_WAIT);
    let back = t_demote.elapsed();
    let through = wait_answer_from(&lab, "primary");
    assert_eq!(through, answer_direct(&c, "primary"));
    assert!(
        through.in_recovery,
        "the VIP leads to the demoted primary, a standby"
    );
    assert!(!answer_direct(&c, "standby1").in_recovery);
    report(
        "with_the_liveness_check_the_vip_ends_on_the_demoted_primary",
        t0,
        &format!(
            "VIP on standby1 (a standby) {:.1}s after the primary stopped, back on the demoted \
             primary {:.1}s after the demotion began",
            to_standby.as_secs_f64(),
            back.as_secs_f64()
        ),
    );
}

/// What a session through the VIP sees when the VIP moves under it while its server stays up:
/// the new holder's kernel knows no such connection and resets it, so the next query fails
/// (rather than hanging) and a new session lands on the new holder.
#[test]
fn a_vip_move_breaks_an_established_session_through_it() {
    let t0 = Instant::now();
    let c = Cluster::builder().standbys(1).start();
    let mut lab = VipLab::start(&c, &["primary", "standby1"], VipCheck::Primary);
    lab.wait_holder("primary", VIP_WAIT);
    let mut session = lab.conn().unwrap();
    assert_eq!(answer(&mut session).unwrap().node, "primary");

    // Two writable primaries: standby1 passes its check too, and waits as BACKUP behind the
    // higher priority.
    let mark = lab.log_position("standby1");
    c.standby(1).promote();
    lab.wait_for_log("standby1", "Entering BACKUP STATE", mark, VIP_WAIT);
    assert_eq!(lab.holders(), ["primary"]);

    lab.stop_keepalived("primary");
    let moved = lab.wait_holder("standby1", VIP_WAIT);
    let broken = answer(&mut session);
    let took = moved.elapsed();
    assert!(
        broken.is_err(),
        "the session through the VIP survived its move: {broken:?}\n{}",
        lab.dump()
    );
    assert_eq!(
        answer_direct(&c, "primary").node,
        "primary",
        "the server stays up"
    );
    assert_eq!(wait_answer_from(&lab, "standby1").node, "standby1");
    report(
        "a_vip_move_breaks_an_established_session_through_it",
        t0,
        &format!(
            "the query after the move failed within {:.2}s: {}",
            took.as_secs_f64(),
            broken.unwrap_err()
        ),
    );
}
