//! The parsers against every reply recorded from real Patroni 3.0.2 and 4.1.4
//! (tests/fixtures/patroni, written by tests/record_patroni_fixtures.rs), and hand-made edge cases.

use super::*;

fn fixture(version: &str, file: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/patroni/{version}/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

const VERSIONS: [&str; 2] = ["3.0.2", "4.1.4"];

#[test]
fn every_fixture_parses_with_known_roles_and_states() {
    for v in VERSIONS {
        let dir = format!("{}/tests/fixtures/patroni/{v}", env!("CARGO_MANIFEST_DIR"));
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let body = fixture(v, &name);
            let ctx = format!("{v}/{name}");
            if name.starts_with("patroni-") {
                let p = parse_patroni(&body).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                assert_eq!(p.version.as_deref(), Some(v), "{ctx}");
                assert!(p.state.as_ref().is_some_and(State::is_known), "{ctx}");
                assert!(
                    !matches!(p.role, None | Some(Role::Other(_))),
                    "{ctx}: {:?}",
                    p.role
                );
                assert!(p.xlog.is_some() && p.timeline.is_some(), "{ctx}");
                assert!(p.dcs_last_seen.is_some() && p.scope.is_some(), "{ctx}");
            } else if name.starts_with("cluster-") {
                let c = parse_cluster(&body).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                assert!(c.members.len() >= 3, "{ctx}");
                assert!(c.leader().is_some(), "{ctx}");
                for m in &c.members {
                    assert!(m.name.is_some() && m.api_url.is_some(), "{ctx}");
                    assert!(m.host.is_some() && m.port.is_some(), "{ctx}");
                    assert!(m.state.as_ref().is_some_and(State::is_known), "{ctx}");
                    assert!(!matches!(m.role, None | Some(Role::Other(_))), "{ctx}");
                    let is_leader = m.role.as_ref().is_some_and(Role::is_leader);
                    // The leader has no lag; every replica has one.
                    assert_eq!(m.lag.is_none(), is_leader, "{ctx}: {m:?}");
                }
            } else if name.starts_with("history-") {
                let h = parse_history(&body).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                assert_eq!(h.malformed, 0, "{ctx}");
            } else if name.starts_with("config") {
                let c = parse_config(&body).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                assert_eq!(
                    (c.ttl, c.loop_wait, c.retry_timeout),
                    (Some(20), Some(2), Some(5)),
                    "{ctx}"
                );
                assert_eq!(c.maximum_lag_on_failover, Some(1 << 20), "{ctx}");
            } else {
                panic!("{ctx}: unexpected fixture");
            }
            seen += 1;
        }
        assert!(seen >= 17, "{v}: only {seen} fixtures");
    }
}

#[test]
fn leader_role_is_normalised_from_master_and_primary() {
    let p3 = parse_patroni(&fixture("3.0.2", "patroni-leader.json")).unwrap();
    let p4 = parse_patroni(&fixture("4.1.4", "patroni-leader.json")).unwrap();
    for p in [&p3, &p4] {
        assert_eq!(p.role, Some(Role::Leader));
        assert_eq!(p.state.as_ref().unwrap().label(), "running");
        let x = p.xlog.as_ref().unwrap();
        assert_eq!(x.location, Some(67_108_864));
        assert_eq!(x.received_location, None);
        assert_eq!(p.replication.len(), 2);
        assert_eq!(p.replication[0].state.as_deref(), Some("streaming"));
        assert_eq!(p.pause, None);
        assert_eq!(p.server_version, Some(150_020));
    }
    assert_eq!(p3.name, None, "3.0.2 does not say its name");
    assert_eq!(p4.name.as_deref(), Some("m1"));
    assert_eq!(Role::parse("master").label(), "leader");
    assert_eq!(Role::parse("primary").label(), "leader");
    assert_eq!(Role::parse("demoted"), Role::Other("demoted".into()));
    assert_eq!(Role::parse("demoted").label(), "other");
}

#[test]
fn replica_status_of_both_versions() {
    let p3 = parse_patroni(&fixture("3.0.2", "patroni-replica.json")).unwrap();
    let p4 = parse_patroni(&fixture("4.1.4", "patroni-replica.json")).unwrap();
    for p in [&p3, &p4] {
        assert_eq!(p.role, Some(Role::Replica));
        let x = p.xlog.as_ref().unwrap();
        assert_eq!(x.location, None);
        assert_eq!(x.received_location, Some(67_108_864));
        assert_eq!(x.replayed_location, Some(67_108_864));
        assert_eq!(x.paused, Some(false));
        assert_eq!(x.replayed_timestamp, None, "null reads as absent");
    }
    assert_eq!(p3.replication_state, None);
    assert_eq!(p4.replication_state.as_deref(), Some("streaming"));
    let nf = parse_patroni(&fixture("4.1.4", "patroni-replica-nofailover.json")).unwrap();
    assert_eq!(nf.tags.nofailover, Some(true));
    let sync3 = parse_patroni(&fixture("3.0.2", "patroni-sync-standby.json")).unwrap();
    let sync4 = parse_patroni(&fixture("4.1.4", "patroni-sync-standby.json")).unwrap();
    assert_eq!(sync3.sync_standby, Some(true));
    assert_eq!(sync4.sync_standby, Some(true));
}

#[test]
fn paused_cluster_and_status() {
    for v in VERSIONS {
        let c = parse_cluster(&fixture(v, "cluster-paused.json")).unwrap();
        assert!(c.paused(), "{v}");
        let healthy = parse_cluster(&fixture(v, "cluster-healthy.json")).unwrap();
        assert!(!healthy.paused(), "{v}");
        assert!(!healthy.is_unlocked(), "{v}");
        let p = parse_patroni(&fixture(v, "patroni-leader-paused.json")).unwrap();
        assert_eq!(p.pause, Some(true), "{v}");
        let cfg = parse_config(&fixture(v, "config-paused.json")).unwrap();
        assert_eq!(cfg.pause, Some(true), "{v}");
        // Bootstrap does not write `pause`; PATCH {"pause": false} leaves it false.
        assert_eq!(
            parse_config(&fixture(v, "config.json")).unwrap().pause,
            None,
            "{v}"
        );
        assert_eq!(
            parse_config(&fixture(v, "config-sync.json")).unwrap().pause,
            Some(false),
            "{v}"
        );
    }
}

#[test]
fn replica_states_differ_between_versions() {
    let c3 = parse_cluster(&fixture("3.0.2", "cluster-healthy.json")).unwrap();
    let c4 = parse_cluster(&fixture("4.1.4", "cluster-healthy.json")).unwrap();
    let replica_states = |c: &ClusterStatus| -> Vec<&'static str> {
        c.members
            .iter()
            .filter(|m| m.role == Some(Role::Replica))
            .map(|m| m.state.as_ref().unwrap().label())
            .collect()
    };
    assert_eq!(replica_states(&c3), ["running", "running"]);
    assert_eq!(replica_states(&c4), ["streaming", "streaming"]);
    assert_eq!(c3.scope, None);
    assert!(c4.scope.as_deref().unwrap().starts_with("pgre-"));
}

#[test]
fn cluster_lag_fields_per_version() {
    let c3 = parse_cluster(&fixture("3.0.2", "cluster-healthy.json")).unwrap();
    let r3 = c3
        .members
        .iter()
        .find(|m| m.role == Some(Role::Replica))
        .unwrap();
    assert_eq!(r3.lag, Some(Reading::Known(0)));
    assert_eq!((r3.receive_lag, r3.replay_lag, r3.lsn), (None, None, None));

    let c4 = parse_cluster(&fixture("4.1.4", "cluster-member-killed.json")).unwrap();
    let m4 = c4
        .members
        .iter()
        .find(|m| m.name.as_deref() == Some("m4"))
        .unwrap();
    assert_eq!(m4.lag, Some(Reading::Known(40)));
    assert_eq!(m4.receive_lag, Some(Reading::Known(40)));
    assert_eq!(m4.replay_lag, Some(Reading::Known(40)));
    assert_eq!(m4.lsn, Some(Reading::Known(0x5000290)));
    assert_eq!(m4.receive_lsn, Some(Reading::Known(0x5000290)));
    assert_eq!(m4.tags.nofailover, Some(true));
    let leader = c4.leader().unwrap();
    assert_eq!(leader.name.as_deref(), Some("m2"));
    assert_eq!((leader.lag, leader.lsn), (None, None));
}

#[test]
fn unknown_lag_and_lsn() {
    let body = br#"{"members":[
        {"name":"a","role":"leader","state":"running","timeline":3},
        {"name":"b","role":"replica","state":"stopped","lag":"unknown",
         "receive_lag":"unknown","receive_lsn":"unknown","lsn":"unknown","replay_lsn":"zz/1"},
        {"name":"c","role":"replica","state":"restart failed (starting)","lag":-5,"port":"x"},
        {"name":"d","role":"replica","state":"something new","lag":true}]}"#;
    let c = parse_cluster(body).unwrap();
    let b = &c.members[1];
    assert_eq!(b.lag, Some(Reading::Unknown));
    assert_eq!(b.receive_lag, Some(Reading::Unknown));
    assert_eq!(b.lsn, Some(Reading::Unknown));
    assert_eq!(
        b.replay_lsn, None,
        "an unparsable LSN is absent, not unknown"
    );
    assert_eq!(b.state.as_ref().unwrap().label(), "stopped");
    let cm = &c.members[2];
    assert_eq!(cm.lag, Some(Reading::Known(0)));
    assert_eq!(cm.port, None, "a port of the wrong type is absent");
    assert_eq!(cm.state.as_ref().unwrap().label(), "restart failed");
    let d = &c.members[3];
    assert_eq!(d.state.as_ref().unwrap().label(), "other");
    assert_eq!(d.lag, None);
}

#[test]
fn nofailover_tag_is_read_with_python_truthiness() {
    let body = br#"{"members":[
        {"name":"a","tags":{"nofailover":"false"}},
        {"name":"b","tags":{"nofailover":false,"failover_priority":"0"}},
        {"name":"c","tags":{"nofailover":null,"failover_priority":-1,"team":"x"}},
        {"name":"d","tags":"junk"}]}"#;
    let c = parse_cluster(body).unwrap();
    assert_eq!(
        c.members[0].tags.nofailover,
        Some(true),
        "bool('false') is True"
    );
    assert_eq!(c.members[1].tags.nofailover, Some(false));
    assert_eq!(c.members[1].tags.failover_priority, Some(0));
    assert_eq!(c.members[2].tags.nofailover, None);
    assert_eq!(c.members[2].tags.failover_priority, Some(-1));
    assert_eq!(c.members[2].tags.all["team"], "x");
    assert_eq!(c.members[3].tags, Tags::default());
}

#[test]
fn history_after_switchover() {
    for v in VERSIONS {
        assert!(
            parse_history(&fixture(v, "history-initial.json"))
                .unwrap()
                .entries
                .is_empty(),
            "{v}"
        );
        let h = parse_history(&fixture(v, "history-after-switchover.json")).unwrap();
        assert_eq!(h.entries.len(), 1, "{v}");
        let e = &h.entries[0];
        assert_eq!(e.timeline, 1);
        assert_eq!(e.switch_lsn, 83_886_416);
        assert_eq!(e.reason.as_deref(), Some("no recovery target specified"));
        assert_eq!(e.new_leader.as_deref(), Some("m2"));
        let t = e.timestamp_seconds().unwrap();
        // 2026-12-01T10:23:xx+00:00
        assert!((1_796_120_580.0..1_796_120_640.0).contains(&t), "{v}: {t}");
        let after = parse_cluster(&fixture(v, "cluster-after-switchover.json")).unwrap();
        assert_eq!(after.leader().unwrap().name.as_deref(), Some("m2"));
        assert!(after.members.iter().all(|m| m.timeline == Some(2)), "{v}");
    }
}

#[test]
fn history_entries_of_older_shapes() {
    let h = parse_history(
        br#"[[1, 25165984, "no recovery target specified"],
             [2, "50331808"],
             [3, 67109016, "x", "2024-01-02T03:04:05Z", "n1", "extra"],
             ["x", 1], [4], "junk"]"#,
    )
    .unwrap();
    assert_eq!(h.entries.len(), 3);
    assert_eq!(h.malformed, 3);
    assert_eq!(h.entries[0].timestamp, None);
    assert_eq!(h.entries[1].switch_lsn, 50_331_808);
    assert_eq!(h.entries[2].timestamp_seconds(), Some(1_704_164_645.0));
    assert!(matches!(
        parse_history(b"{}"),
        Err(ParseError::Shape {
            expected: "array",
            ..
        })
    ));
}

#[test]
fn config_sync_modes() {
    for v in VERSIONS {
        let c = parse_config(&fixture(v, "config.json")).unwrap();
        assert_eq!(c.synchronous_mode, None, "{v}: not set at bootstrap");
        assert!(!c.standby_cluster);
        let s = parse_config(&fixture(v, "config-sync.json")).unwrap();
        assert_eq!(s.synchronous_mode, Some(SyncMode::On), "{v}");
    }
    let q = parse_config(&fixture("4.1.4", "config-quorum.json")).unwrap();
    assert_eq!(q.synchronous_mode, Some(SyncMode::Quorum));
    let c = parse_config(
        br#"{"synchronous_mode":"on","synchronous_mode_strict":"true","failsafe_mode":true,
             "maximum_lag_on_failover":"2048","check_timeline":1,"standby_cluster":{"host":"x"}}"#,
    )
    .unwrap();
    assert_eq!(c.synchronous_mode, Some(SyncMode::On));
    assert_eq!(c.synchronous_mode_strict, Some(true));
    assert_eq!(c.failsafe_mode, Some(true));
    assert_eq!(c.maximum_lag_on_failover, Some(2048));
    assert_eq!(c.check_timeline, Some(true));
    assert!(c.standby_cluster);
    // parse_bool(2) is None in Patroni: neither on nor off.
    let c = parse_config(br#"{"pause":2,"failsafe_mode":"YES","check_timeline":0}"#).unwrap();
    assert_eq!(c.pause, None);
    assert_eq!(c.failsafe_mode, Some(true));
    assert_eq!(c.check_timeline, Some(false));
    assert_eq!(
        DynamicConfig::default().maximum_lag_on_failover_or_default(),
        1 << 20
    );
}

#[test]
fn sync_and_quorum_roles() {
    for v in VERSIONS {
        let c = parse_cluster(&fixture(v, "cluster-sync.json")).unwrap();
        let n = c
            .members
            .iter()
            .filter(|m| m.role == Some(Role::SyncStandby))
            .count();
        assert_eq!(n, 1, "{v}");
    }
    let q = parse_cluster(&fixture("4.1.4", "cluster-quorum.json")).unwrap();
    assert!(
        q.members
            .iter()
            .any(|m| m.role == Some(Role::QuorumStandby))
    );
}

#[test]
fn not_json_and_wrong_shapes_are_errors_naming_the_endpoint() {
    let e = parse_patroni(b"<html>").unwrap_err().to_string();
    assert!(e.starts_with("parse the reply to GET /patroni: "), "{e}");
    let e = parse_cluster(b"[]").unwrap_err().to_string();
    assert_eq!(
        e,
        "parse the reply to GET /cluster: expected a JSON object, got array"
    );
    assert!(parse_config(b"null").is_err());
    // An empty object is a valid reply that says nothing.
    assert_eq!(parse_patroni(b"{}").unwrap(), PatroniStatus::default());
    assert_eq!(parse_cluster(b"{}").unwrap(), ClusterStatus::default());
}

#[test]
fn lsn_and_timestamps() {
    assert_eq!(parse_lsn("0/5000290"), Some(0x5000290));
    assert_eq!(parse_lsn("16/B374D848"), Some((0x16 << 32) | 0xB374D848));
    assert_eq!(parse_lsn("1/100000000"), None);
    assert_eq!(parse_lsn("unknown"), None);
    assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0.0));
    assert_eq!(
        parse_timestamp("2026-12-01 10:22:58.25+00:00"),
        Some(1_796_120_578.25)
    );
    assert_eq!(
        parse_timestamp("2026-12-01T12:22:58+02:00"),
        parse_timestamp("2026-12-01T10:22:58+00:00")
    );
    assert_eq!(
        parse_timestamp("2026-12-01T05:22:58-0500"),
        parse_timestamp("2026-12-01T10:22:58")
    );
    assert_eq!(
        parse_timestamp("2024-02-29T00:00:00+00"),
        Some(1_709_164_800.0)
    );
    assert_eq!(parse_timestamp("2026-13-01T00:00:00Z"), None);
    assert_eq!(parse_timestamp("yesterday"), None);
}
