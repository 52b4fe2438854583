//! Sharding by cluster: Prometheus's own `hashmod` relabel action over the cluster name decides
//! which exporter of a fleet polls a cluster, so every replica loads the same file, a cluster is
//! never split between two exporters, and a Prometheus `hashmod` relabel over the `cluster`
//! label computes the same assignment.

use md5::{Digest, Md5};

use crate::config::{ClusterConfig, Config, ShardConfig};

/// Prometheus's `hashmod` (model/relabel/relabel.go): the md5 digest of `value`, its last 8
/// bytes read as a big-endian u64, modulo `modulus` (which must not be 0). `value` is what the
/// relabel rule's source labels join to; for `source_labels: [cluster]` the cluster name.
pub fn hashmod(value: &str, modulus: u64) -> u64 {
    assert!(modulus > 0, "hashmod modulus must be at least 1");
    let digest = Md5::digest(value.as_bytes());
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&digest[8..16]);
    u64::from_be_bytes(tail) % modulus
}

/// Whether `shard` polls the cluster named `name`.
pub fn owns(shard: ShardConfig, name: &str) -> bool {
    hashmod(name, shard.count) == shard.index
}

/// The clusters `shard` polls, in configuration order, and the names of those it leaves to the
/// other shards. One shard (no `[shard]` section) owns every cluster.
pub fn owned(clusters: &[ClusterConfig], shard: ShardConfig) -> (Vec<ClusterConfig>, Vec<String>) {
    let (owned, skipped): (Vec<_>, Vec<_>) =
        clusters.iter().cloned().partition(|c| owns(shard, &c.name));
    (owned, skipped.into_iter().map(|c| c.name).collect())
}

/// `config` with only the clusters its shard owns: what the server polls, and what `check` and
/// `status` report on.
pub fn restrict(mut config: Config) -> Config {
    let (mine, _) = owned(&config.clusters, config.shard);
    config.clusters = mine;
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Overrides, load_from_str};

    /// Pairs a real Prometheus 2.42 computed with `action: hashmod` over a `cluster` label
    /// (recorded by tests/e2e_fleet.rs, which also checks them against a live Prometheus).
    const RECORDED: &str = include_str!("../../tests/fixtures/hashmod/prometheus-2.42.json");

    #[test]
    fn hashmod_matches_what_prometheus_computed() {
        let recorded: serde_json::Value = serde_json::from_str(RECORDED).unwrap();
        let pairs = recorded["pairs"].as_array().unwrap();
        assert!(pairs.len() >= 50, "{} pairs", pairs.len());
        let mut checked = 0;
        for p in pairs {
            let name = p["cluster"].as_str().unwrap();
            for (modulus, want) in p["hashmod"].as_object().unwrap() {
                let modulus: u64 = modulus.parse().unwrap();
                let want: u64 = want.as_str().unwrap().parse().unwrap();
                assert_eq!(hashmod(name, modulus), want, "hashmod({name:?}, {modulus})");
                checked += 1;
            }
        }
        assert!(checked >= 200, "{checked} values");
    }

    #[test]
    fn modulus_one_owns_everything() {
        for name in ["", "pg", "prod/eu-1", "ünï"] {
            assert_eq!(hashmod(name, 1), 0);
        }
    }

    fn config(names: &[&str], shard: &str) -> crate::config::Config {
        let mut toml = shard.to_owned();
        for n in names {
            toml.push_str(&format!(
                "[[cluster]]\nname = \"{n}\"\n[[cluster.node]]\nname = \"a\"\nhost = \"h\"\n"
            ));
        }
        load_from_str(&toml, &[], &Overrides::default()).unwrap()
    }

    #[test]
    fn every_cluster_is_owned_by_exactly_one_shard() {
        let names: Vec<String> = (0..40).map(|i| format!("cluster-{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let count = 3;
        let mut seen = Vec::new();
        for index in 0..count {
            let c = config(
                &names,
                &format!("[shard]\ncount = {count}\nindex = {index}\n"),
            );
            let (owned, skipped) = owned(&c.clusters, c.shard);
            assert_eq!(owned.len() + skipped.len(), names.len());
            for o in &owned {
                assert!(!skipped.contains(&o.name));
                assert_eq!(hashmod(&o.name, count), index);
            }
            seen.extend(owned.into_iter().map(|o| o.name));
        }
        seen.sort();
        let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(seen, want, "each cluster once, none lost");
        // Configuration order is kept.
        let c = config(&names, "");
        let (all, none) = owned(&c.clusters, c.shard);
        assert!(none.is_empty());
        assert_eq!(
            all.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            names
        );
    }
}
