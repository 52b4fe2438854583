//! The Patroni source of one cluster: every `patroni.interval` it asks one member for
//! `GET /cluster` (the configured URLs and every member's `api_url` are seeds, so discovery
//! keeps working when the configured member dies), then every listed member for
//! `GET /patroni` (concurrently, each bounded by `patroni.timeout`), and `/history` and
//! `/config` from the member that answered `/cluster`. Each pass is published whole as a
//! [`PatroniRound`] on a watch channel that the cluster's poll task reads; nothing here touches
//! PostgreSQL or the store, and a slow member never delays the SQL polls.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::join_all;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::api::{ClusterStatus, DynamicConfig, History, PatroniStatus};
use super::client::{ApiBase, ClientSettings, PatroniClient, Secret};
use crate::config::PatroniConfig;
use crate::core::model::UnixTime;

/// What one pass over the REST API found.
#[derive(Clone, Debug, Default)]
pub struct PatroniRound {
    /// Exporter clock at the end of the pass.
    pub at: UnixTime,
    /// `GET /cluster` from the first seed that answered; `None` when none did.
    pub cluster: Option<ClusterStatus>,
    /// Why no seed answered (the last seed's error), for the log and the landing page.
    pub cluster_error: Option<String>,
    /// `GET /patroni` per member name (members listed by `/cluster` with an `api_url`).
    pub members: BTreeMap<String, Result<PatroniStatus, String>>,
    pub history: Option<History>,
    pub config: Option<DynamicConfig>,
}

/// The settings of the REST client for `p`.
pub fn client_settings(p: &PatroniConfig) -> ClientSettings {
    ClientSettings {
        timeout: p.timeout,
        username: p.username.clone(),
        password: p.password.as_ref().map(|pw| Secret::new(pw.expose())),
        cafile: p.cafile.clone(),
        certfile: p.certfile.clone(),
        keyfile: p.keyfile.clone(),
    }
}

/// Polls the REST API of `cluster` forever and publishes each pass into `tx`. Returns when no
/// receiver is left (the cluster task ended).
pub async fn run(cluster: String, p: PatroniConfig, tx: watch::Sender<Option<Arc<PatroniRound>>>) {
    let client = match PatroniClient::new(&client_settings(&p)) {
        Ok(c) => c,
        Err(e) => {
            // The configuration was validated; a certificate that does not parse lands here.
            warn!(cluster = %cluster, error = %e, "cannot build the Patroni REST client; Patroni metrics stay absent");
            return;
        }
    };
    let configured: Vec<ApiBase> = p
        .urls
        .iter()
        .filter_map(|u| match ApiBase::parse(u) {
            Ok(b) => Some(b),
            Err(e) => {
                warn!(cluster = %cluster, error = %e, "ignoring a Patroni URL");
                None
            }
        })
        .collect();
    // Seeds learned from /cluster, most recently seen first after the one that answered.
    let mut learned: Vec<ApiBase> = Vec::new();
    let mut last_good: Option<ApiBase> = None;
    let mut reachable: Option<bool> = None;
    let mut ticker = tokio::time::interval(p.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if tx.is_closed() {
            return;
        }
        let seeds = seed_order(last_good.as_ref(), &configured, &learned);
        let (round, answered) = pass(&client, &seeds).await;
        if let Some(status) = &round.cluster {
            learned = status
                .members
                .iter()
                .filter_map(|m| m.api_url.as_deref())
                .filter_map(|u| ApiBase::parse(u).ok())
                .collect();
        }
        last_good = answered.or(last_good);
        let ok = round.cluster.is_some();
        if reachable != Some(ok) {
            if ok {
                info!(cluster = %cluster, members = round.members.len(), "Patroni REST API answers");
            } else {
                warn!(cluster = %cluster, error = round.cluster_error.as_deref().unwrap_or(""),
                      "no Patroni member answers GET /cluster");
            }
            reachable = Some(ok);
        }
        if tx.send(Some(Arc::new(round))).is_err() {
            return;
        }
    }
}

/// One pass over the configured URLs, for `check` and `status`: the same requests as a pass of
/// [`run`], without the seeds learned from earlier passes.
pub async fn pass_once(p: &PatroniConfig) -> PatroniRound {
    let client = match PatroniClient::new(&client_settings(p)) {
        Ok(c) => c,
        Err(e) => {
            return PatroniRound {
                at: crate::clock::unix_now(),
                cluster_error: Some(format!("cannot build the Patroni REST client: {e}")),
                ..PatroniRound::default()
            };
        }
    };
    let mut errors = Vec::new();
    let seeds: Vec<ApiBase> = p
        .urls
        .iter()
        .filter_map(|u| {
            ApiBase::parse(u)
                .map_err(|e| errors.push(e.to_string()))
                .ok()
        })
        .collect();
    let (mut round, _) = pass(&client, &seeds).await;
    if round.cluster.is_none() && round.cluster_error.is_none() {
        round.cluster_error = Some(errors.pop().unwrap_or_else(|| "no Patroni URL".into()));
    }
    round
}

/// The seeds to try, in order: the one that answered last, the configured URLs, then every
/// member's `api_url` from the last `/cluster`; each once.
fn seed_order(last: Option<&ApiBase>, configured: &[ApiBase], learned: &[ApiBase]) -> Vec<ApiBase> {
    let mut out: Vec<ApiBase> = Vec::new();
    for b in last.into_iter().chain(configured).chain(learned) {
        if !out.contains(b) {
            out.push(b.clone());
        }
    }
    out
}

/// One pass: `/cluster` from the first seed that answers, then `/patroni` of every member and
/// `/history`, `/config` of that seed, all concurrently.
async fn pass(client: &PatroniClient, seeds: &[ApiBase]) -> (PatroniRound, Option<ApiBase>) {
    let mut round = PatroniRound::default();
    let mut answered = None;
    for seed in seeds {
        match client.cluster(seed).await {
            Ok(status) => {
                round.cluster = Some(status);
                answered = Some(seed.clone());
                break;
            }
            Err(e) => {
                debug!(seed = %seed, error = %e, "GET /cluster failed; trying the next seed");
                round.cluster_error = Some(e.to_string());
            }
        }
    }
    if let (Some(status), Some(seed)) = (&round.cluster, &answered) {
        round.cluster_error = None;
        let members = status.members.iter().filter_map(|m| {
            let name = m.name.clone()?;
            let base = m.api_url.as_deref().and_then(|u| ApiBase::parse(u).ok());
            Some(async move {
                let reply = match base {
                    Some(b) => client
                        .patroni(&b)
                        .await
                        .map(|(_, s)| s)
                        .map_err(|e| e.to_string()),
                    None => Err("no api_url in GET /cluster".to_owned()),
                };
                (name, reply)
            })
        });
        let (members, history, config) =
            tokio::join!(join_all(members), client.history(seed), client.config(seed));
        round.members = members.into_iter().collect();
        round.history = history.ok();
        round.config = config.ok();
    }
    round.at = crate::clock::unix_now();
    (round, answered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_tried_last_good_first_then_configured_then_learned_once_each() {
        let b = |s: &str| ApiBase::parse(s).unwrap();
        let configured = [b("http://10.0.0.1:8008"), b("http://10.0.0.2:8008")];
        let learned = [
            b("http://10.0.0.2:8008/patroni"),
            b("http://10.0.0.3:8008/patroni"),
        ];
        let order = seed_order(Some(&b("http://10.0.0.3:8008")), &configured, &learned);
        let shown: Vec<String> = order.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "http://10.0.0.3:8008",
                "http://10.0.0.1:8008",
                "http://10.0.0.2:8008"
            ]
        );
    }
}
