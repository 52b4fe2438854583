//! Smoke test of the Patroni harness: etcd 3.4 and three real Patroni members on loopback, for
//! Debian's Patroni 3.0.2 and the venv's 4.x; one leader and two streaming replicas, then
//! teardown. Prints how long each cluster took to come up.

mod harness;

use std::time::Instant;

use harness::{PATRONI_WAIT, PatroniBin, PatroniCluster};

fn smoke(bin: PatroniBin) {
    let version = bin.version.clone();
    let t0 = Instant::now();
    let c = PatroniCluster::builder(bin).members(3).start();
    let leader = c.wait_healthy(2, PATRONI_WAIT);
    let up = t0.elapsed();
    let cluster = c.cluster_json().unwrap();
    let members = cluster["members"].as_array().unwrap();
    assert_eq!(members.len(), 3, "{cluster:#}");
    // The exporter's role exists on every member (created once at bootstrap, replicated).
    for m in c.members() {
        let (status, body) = c.get(m.name(), "/patroni").unwrap();
        assert_eq!(status, 200, "GET /patroni of {}: {body}", m.name());
    }
    let mut client = c.conn(&leader).unwrap();
    let monitor: bool = client
        .query_one(
            "SELECT pg_has_role('replication_exporter', 'pg_monitor', 'MEMBER')",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(monitor);
    let t1 = Instant::now();
    drop(client);
    drop(c);
    eprintln!(
        "patroni {version}: 3 members up (1 leader {leader}, 2 streaming) in {:.1}s, teardown {:.1}s",
        up.as_secs_f64(),
        t1.elapsed().as_secs_f64()
    );
}

#[test]
fn three_members_on_debian_patroni_3() {
    smoke(PatroniBin::debian());
}

#[test]
fn three_members_on_patroni_4() {
    smoke(PatroniBin::v4());
}
