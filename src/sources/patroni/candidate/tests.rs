//! Table tests of Patroni's failover-candidate rule, per version.

use super::*;
use crate::sources::patroni::api::{DynamicConfig, Role, State, SyncMode, Tags};

const MIB: u64 = 1 << 20;
const LEADER_LSN: u64 = 100 * MIB;

/// A member of the table: name, role, state, tags, timeline, receive, replay.
struct M {
    name: &'static str,
    role: Role,
    state: State,
    tags: Tags,
    timeline: Option<u32>,
    receive: Option<u64>,
    replay: Option<u64>,
    reachable: bool,
}

fn leader() -> M {
    M {
        name: "m1",
        role: Role::Leader,
        state: State("running".into()),
        tags: Tags::default(),
        timeline: Some(2),
        receive: None,
        replay: None,
        reachable: true,
    }
}

fn replica(name: &'static str) -> M {
    M {
        name,
        role: Role::Replica,
        state: State("streaming".into()),
        tags: Tags::default(),
        timeline: Some(2),
        receive: Some(LEADER_LSN),
        replay: Some(LEADER_LSN),
        reachable: true,
    }
}

impl M {
    fn role(mut self, r: Role) -> Self {
        self.role = r;
        self
    }
    fn state(mut self, s: &str) -> Self {
        self.state = State(s.into());
        self
    }
    fn nofailover(mut self, v: bool) -> Self {
        self.tags.nofailover = Some(v);
        self
    }
    fn priority(mut self, p: i64) -> Self {
        self.tags.failover_priority = Some(p);
        self
    }
    fn at(mut self, receive: Option<u64>, replay: Option<u64>) -> Self {
        self.receive = receive;
        self.replay = replay;
        self
    }
    fn timeline(mut self, t: Option<u32>) -> Self {
        self.timeline = t;
        self
    }
    fn unreachable(mut self) -> Self {
        self.reachable = false;
        self
    }
    fn input(&self) -> MemberInput<'_> {
        MemberInput {
            name: self.name,
            role: Some(&self.role),
            state: Some(&self.state),
            tags: &self.tags,
            timeline: self.timeline,
            receive_lsn: self.receive,
            replay_lsn: self.replay,
            reachable: self.reachable,
            watchdog_failed: false,
        }
    }
}

struct Case {
    rules: Rules,
    config: DynamicConfig,
    paused: bool,
    leader_lsn: Option<u64>,
    cluster_timeline: Option<u32>,
    sync: Option<SyncState>,
}

fn case(rules: Rules) -> Case {
    Case {
        rules,
        config: DynamicConfig {
            maximum_lag_on_failover: Some(MIB),
            ..DynamicConfig::default()
        },
        paused: false,
        leader_lsn: Some(LEADER_LSN),
        cluster_timeline: Some(2),
        sync: None,
    }
}

impl Case {
    fn run(&self, members: &[M]) -> Vec<Verdict> {
        let c = ClusterInput {
            rules: self.rules,
            config: &self.config,
            paused: self.paused,
            leader_lsn: self.leader_lsn,
            cluster_timeline: self.cluster_timeline,
            sync: self.sync.as_ref(),
        };
        let inputs: Vec<MemberInput> = members.iter().map(M::input).collect();
        judge(&c, &inputs)
    }
}

use Verdict::{Candidate, Not};

fn sync(leader: &str, members: &[&str], quorum: Option<u32>) -> Option<SyncState> {
    Some(SyncState {
        leader: Some(leader.into()),
        members: members.iter().map(|s| s.to_string()).collect(),
        quorum,
    })
}

const BOTH: [Rules; 2] = [Rules::V3_0, Rules::V4];

#[test]
fn healthy_cluster_every_replica_is_a_candidate() {
    for rules in BOTH {
        let v = case(rules).run(&[leader(), replica("m2"), replica("m3")]);
        assert_eq!(
            v,
            [Not(Reason::IsLeader), Candidate, Candidate],
            "{rules:?}"
        );
        assert_eq!(count(&v), Some(2));
    }
}

#[test]
fn nofailover_tag() {
    for rules in BOTH {
        let v = case(rules).run(&[leader(), replica("m2").nofailover(true), replica("m3")]);
        assert_eq!(v[1], Not(Reason::NoFailoverTag), "{rules:?}");
        assert_eq!(v[2], Candidate);
        let v = case(rules).run(&[leader(), replica("m2").nofailover(false)]);
        assert_eq!(v[1], Candidate, "{rules:?}: nofailover: false");
    }
}

#[test]
fn failover_priority_zero_counts_only_from_3_2() {
    let members = [leader(), replica("m2").priority(0)];
    assert_eq!(case(Rules::V3_0).run(&members)[1], Candidate);
    assert_eq!(
        case(Rules::V4).run(&members)[1],
        Not(Reason::FailoverPriority(0))
    );
    assert_eq!(
        case(Rules::for_version("3.2.0")).run(&members)[1],
        Not(Reason::FailoverPriority(0))
    );
    // The bool tag wins over the priority (Tags._bool_tag).
    let members = [leader(), replica("m2").priority(0).nofailover(false)];
    assert_eq!(case(Rules::V4).run(&members)[1], Candidate);
}

#[test]
fn lag_beyond_maximum_lag_on_failover_counts_received_wal() {
    for rules in BOTH {
        let c = case(rules);
        let v = c.run(&[
            leader(),
            // Exactly at the limit: `lag > maximum` is false.
            replica("m2").at(Some(LEADER_LSN - MIB), Some(LEADER_LSN - MIB)),
            replica("m3").at(Some(LEADER_LSN - MIB - 1), Some(LEADER_LSN - 2 * MIB)),
            // Received but not replayed: Patroni takes max(receive, replay).
            replica("m4").at(Some(LEADER_LSN), Some(LEADER_LSN - 500 * MIB / 10)),
            // No receiver (archive recovery): the replay position alone.
            replica("m5")
                .state("in archive recovery")
                .at(None, Some(LEADER_LSN)),
        ]);
        assert_eq!(v[1], Candidate, "{rules:?}");
        assert_eq!(
            v[2],
            Not(Reason::Lagging {
                lag: MIB + 1,
                maximum: MIB
            })
        );
        assert_eq!(v[3], Candidate);
        assert_eq!(v[4], Candidate);
    }
}

#[test]
fn every_replica_lagging_means_no_candidate() {
    let v = case(Rules::V4).run(&[
        leader(),
        replica("m2").at(Some(10 * MIB), Some(10 * MIB)),
        replica("m3").at(Some(20 * MIB), Some(5 * MIB)),
    ]);
    assert!(
        v[1..]
            .iter()
            .all(|v| matches!(v, Not(Reason::Lagging { .. })))
    );
    assert_eq!(count(&v), Some(0));
}

#[test]
fn default_maximum_lag_is_one_mib() {
    let mut c = case(Rules::V4);
    c.config.maximum_lag_on_failover = None;
    let v = c.run(&[leader(), replica("m2").at(Some(LEADER_LSN - 2 * MIB), None)]);
    assert_eq!(
        v[1],
        Not(Reason::Lagging {
            lag: 2 * MIB,
            maximum: MIB
        })
    );
}

#[test]
fn synchronous_mode_only_the_sync_standby() {
    for rules in BOTH {
        let mut c = case(rules);
        c.config.synchronous_mode = Some(SyncMode::On);
        c.sync = sync("m1", &["m2"], None);
        let v = c.run(&[
            leader(),
            replica("m2").role(Role::SyncStandby),
            replica("m3"),
        ]);
        assert_eq!(v[1], Candidate, "{rules:?}");
        assert_eq!(v[2], Not(Reason::NotSynchronous));
        // /sync empty (not active yet): the usual rule.
        c.sync = None;
        let v = c.run(&[leader(), replica("m2"), replica("m3")]);
        assert_eq!(v[2], Candidate, "{rules:?}");
        // No sync standby listed: nobody, strict or not.
        c.sync = sync("m1", &[], None);
        let v = c.run(&[leader(), replica("m2"), replica("m3")]);
        assert_eq!(count(&v), Some(0), "{rules:?}");
    }
}

#[test]
fn synchronous_mode_strict_promotes_the_same_members() {
    for rules in BOTH {
        let mut c = case(rules);
        c.config.synchronous_mode = Some(SyncMode::On);
        c.config.synchronous_mode_strict = Some(true);
        c.sync = sync("m1", &["m3"], None);
        let v = c.run(&[
            leader(),
            replica("m2"),
            replica("m3").role(Role::SyncStandby),
        ]);
        assert_eq!(v[1], Not(Reason::NotSynchronous), "{rules:?}");
        assert_eq!(v[2], Candidate);
        // The sync standby still has to be within maximum_lag_on_failover.
        let v = c.run(&[leader(), replica("m3").at(Some(1), Some(1))]);
        assert!(matches!(v[1], Not(Reason::Lagging { .. })), "{rules:?}");
    }
}

#[test]
fn sync_names_compare_case_insensitively_only_in_4() {
    let run = |rules| {
        let mut c = case(rules);
        c.config.synchronous_mode = Some(SyncMode::On);
        c.sync = sync("m1", &["M2"], None);
        c.run(&[leader(), replica("m2")])[1].clone()
    };
    assert_eq!(run(Rules::V3_0), Not(Reason::NotSynchronous));
    assert_eq!(run(Rules::V4), Candidate);
}

#[test]
fn synchronous_mode_is_off_in_a_standby_cluster_in_4() {
    let mut c = case(Rules::V4);
    c.config.synchronous_mode = Some(SyncMode::On);
    c.config.standby_cluster = true;
    c.sync = sync("m1", &["m2"], None);
    let members = [
        leader().role(Role::StandbyLeader),
        replica("m2"),
        replica("m3"),
    ];
    assert_eq!(
        c.run(&members),
        [Not(Reason::IsLeader), Candidate, Candidate]
    );
}

#[test]
fn quorum_mode_is_4_only_and_counts_votes() {
    let mut c = case(Rules::V4);
    c.config.synchronous_mode = Some(SyncMode::Quorum);
    // ANY 1 (m2, m3): quorum = 2 - 1 = 1.
    c.sync = sync("m1", &["m2", "m3"], Some(1));
    let members = [
        leader(),
        replica("m2").role(Role::QuorumStandby),
        replica("m3").role(Role::QuorumStandby),
        replica("m4"),
    ];
    let v = c.run(&members);
    // m2 and m3 have each other's vote; m4 (not a voter) needs 2 and gets them.
    assert_eq!(v[1..], [Candidate, Candidate, Candidate]);

    // m3 down: m2 has no vote left, m4 only one of the two it needs.
    let members = [
        leader(),
        replica("m2").role(Role::QuorumStandby),
        replica("m3").role(Role::QuorumStandby).unreachable(),
        replica("m4"),
    ];
    let v = c.run(&members);
    assert_eq!(
        v[1],
        Not(Reason::NoQuorum {
            votes: 0,
            needed: 1
        })
    );
    assert_eq!(v[2], Not(Reason::Unreachable));
    assert_eq!(
        v[3],
        Not(Reason::NoQuorum {
            votes: 1,
            needed: 2
        })
    );

    // A nofailover voter gives no vote (failover_limitation skips it in 4.1.4).
    let members = [
        leader(),
        replica("m2").role(Role::QuorumStandby),
        replica("m3").role(Role::QuorumStandby).nofailover(true),
    ];
    let v = c.run(&members);
    assert_eq!(
        v[1],
        Not(Reason::NoQuorum {
            votes: 0,
            needed: 1
        })
    );

    // Quorum unknown: a member passing its own tests cannot be judged.
    c.sync = sync("m1", &["m2", "m3"], None);
    let v = c.run(&[leader(), replica("m2"), replica("m3").nofailover(true)]);
    assert_eq!(v[1], Verdict::Unknown(Unknown::QuorumUnknown));
    assert_eq!(v[2], Not(Reason::NoFailoverTag));
    assert_eq!(count(&v), None);

    // 3.0.x has no quorum mode: "quorum" is not a boolean it reads as on.
    let mut c3 = case(Rules::V3_0);
    c3.config.synchronous_mode = Some(SyncMode::Quorum);
    c3.sync = sync("m1", &["m2"], Some(1));
    assert_eq!(
        c3.run(&[leader(), replica("m2"), replica("m3")])[1..],
        [Candidate, Candidate]
    );
}

#[test]
fn paused_means_no_automatic_failover() {
    for rules in BOTH {
        let mut c = case(rules);
        c.paused = true;
        let v = c.run(&[leader(), replica("m2"), replica("m3")]);
        assert!(v.iter().all(|v| *v == Not(Reason::Paused)), "{rules:?}");
        assert_eq!(count(&v), Some(0));
    }
}

#[test]
fn timeline_behind_only_with_check_timeline() {
    for rules in BOTH {
        let mut c = case(rules);
        c.cluster_timeline = Some(3);
        let members = [
            leader(),
            replica("m2").timeline(Some(2)),
            replica("m3").timeline(None),
        ];
        // check_timeline is off by default: timelines are not looked at.
        assert_eq!(c.run(&members)[1..], [Candidate, Candidate], "{rules:?}");
        c.config.check_timeline = Some(true);
        assert_eq!(
            c.run(&members)[1..],
            [
                Not(Reason::TimelineBehind {
                    member: 2,
                    cluster: 3
                }),
                Not(Reason::TimelineUnknown)
            ]
        );
        let at3 = [leader(), replica("m2").timeline(Some(3))];
        assert_eq!(c.run(&at3)[1], Candidate);
        c.cluster_timeline = None;
        assert_eq!(
            c.run(&at3)[1],
            Verdict::Unknown(Unknown::ClusterTimelineUnknown)
        );
        // Not in a standby cluster.
        c.config.standby_cluster = true;
        c.cluster_timeline = Some(9);
        assert_eq!(c.run(&at3)[1], Candidate);
    }
}

#[test]
fn unknown_positions() {
    for rules in BOTH {
        let mut c = case(rules);
        // The member's own position unknown: not a candidate (Patroni reads it as 0: lagging).
        let v = c.run(&[leader(), replica("m2").at(None, None), replica("m3")]);
        assert_eq!(v[1], Not(Reason::PositionUnknown), "{rules:?}");
        assert_eq!(count(&v), Some(1));
        // The leader's position unknown: cannot tell; definite reasons still win.
        c.leader_lsn = None;
        let v = c.run(&[leader(), replica("m2"), replica("m3").nofailover(true)]);
        assert_eq!(v[1], Verdict::Unknown(Unknown::LeaderPositionUnknown));
        assert_eq!(v[1].sample(), None);
        assert_eq!(v[2], Not(Reason::NoFailoverTag));
        assert_eq!(count(&v), None, "0 would claim no failover is possible");
    }
}

#[test]
fn not_running_unreachable_or_watchdog() {
    for rules in BOTH {
        let c = case(rules);
        let mut wd = replica("m5");
        wd.reachable = true;
        let members = [
            leader(),
            replica("m2").state("starting"),
            replica("m3").state("stopped"),
            replica("m4").unreachable(),
            replica("m6").state("running"),
        ];
        let v = c.run(&members);
        assert_eq!(v[1], Not(Reason::NotRunning(Some("starting".into()))));
        assert_eq!(v[2], Not(Reason::NotRunning(Some("stopped".into()))));
        assert_eq!(v[3], Not(Reason::Unreachable));
        assert_eq!(v[4], Candidate, "3.0.2 replicas are `running`");
        let mut input = wd.input();
        input.watchdog_failed = true;
        let cfg = c.config.clone();
        let ci = ClusterInput {
            rules,
            config: &cfg,
            paused: false,
            leader_lsn: c.leader_lsn,
            cluster_timeline: c.cluster_timeline,
            sync: None,
        };
        assert_eq!(judge(&ci, &[input]), [Not(Reason::WatchdogFailed)]);
    }
}

#[test]
fn rules_for_versions() {
    assert_eq!(Rules::for_version("3.0.2"), Rules::V3_0);
    assert_eq!(Rules::for_version("3.1.2"), Rules::V3_0);
    assert_eq!(
        Rules::for_version("3.3.11"),
        Rules {
            failover_priority: true,
            quorum: false
        }
    );
    assert_eq!(Rules::for_version("4.1.4"), Rules::V4);
    assert_eq!(Rules::for_version("4.0.0"), Rules::V4);
    assert_eq!(Rules::for_version("garbage"), Rules::V4);
}
