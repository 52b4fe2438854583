//! End-to-end load: the real exporter, polling a real primary and standby, under 300
//! concurrent scrapes and then 30 seconds of 200 scrapes per second (half of them asking for
//! gzip). Every scrape must answer 200 with a valid page; latency percentiles and the RSS
//! before and after are printed, and the RSS must stay bounded.

mod harness;

use std::io::Read;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use harness::{Cluster, Exporter, Scrape, WAIT};

/// RSS bound after the load (the brief's "generous" bound: a leak or a per-scrape cache would
/// pass it quickly at 6000 scrapes).
const RSS_LIMIT_KB: u64 = 100 * 1024;

/// One full scrape, with or without gzip; the page is checked (decompressed, parsed, both nodes
/// present) so that a 200 with a broken body counts as a failure. Returns the latency of the
/// HTTP exchange alone.
fn scrape_once(e: &Exporter, gzip: bool) -> Result<Duration, String> {
    let headers: &[(&str, &str)] = if gzip {
        &[("Accept-Encoding", "gzip")]
    } else {
        &[]
    };
    let t = Instant::now();
    let r = e.get_with("/metrics", headers)?;
    let took = t.elapsed();
    if r.status != 200 {
        return Err(format!("status {}: {}", r.status, r.text()));
    }
    let text = if gzip {
        if r.header("content-encoding") != Some("gzip") {
            return Err(format!(
                "asked for gzip, got {:?}",
                r.header("content-encoding")
            ));
        }
        let mut s = String::new();
        flate2::read::GzDecoder::new(r.body.as_slice())
            .read_to_string(&mut s)
            .map_err(|e| format!("gunzip: {e}"))?;
        s
    } else {
        if r.header("content-encoding").is_some() {
            return Err("compressed without being asked".to_string());
        }
        r.text()
    };
    let page = Scrape::parse(&text)?;
    if page.all("pg_replication_up").len() != 2 {
        return Err(format!("not both nodes on the page:\n{text}"));
    }
    Ok(took)
}

fn percentiles(mut v: Vec<Duration>) -> String {
    v.sort();
    let at = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    format!(
        "p50 {:.2?}, p99 {:.2?}, max {:.2?} ({} scrapes)",
        at(0.5),
        at(0.99),
        v[v.len() - 1],
        v.len()
    )
}

#[test]
fn many_concurrent_and_sustained_scrapes_all_answer_with_bounded_memory() {
    let c = Cluster::builder().standbys(1).start();
    let role = c.exporter_role();
    let e = Arc::new(Exporter::start(&c.exporter_config(
        "pg",
        role.user(),
        role.password_file(),
    )));
    e.wait_scrape("both nodes up", WAIT, |s| {
        s.find("pg_replication_up", &[])
            .iter()
            .filter(|x| x.value == 1.0)
            .count()
            == 2
    });
    let pid = e.pid().unwrap();
    let rss0 = harness::proc_status(pid, "VmRSS");

    // 300 at once.
    let n = 300;
    let barrier = Arc::new(Barrier::new(n));
    let burst_started = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (e, barrier) = (e.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                scrape_once(&e, i % 2 == 0)
            })
        })
        .collect();
    let burst: Vec<Result<Duration, String>> =
        handles.into_iter().map(|h| h.join().unwrap()).collect();
    let burst_took = burst_started.elapsed();
    let failed: Vec<&String> = burst.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {n} concurrent scrapes failed, first: {}",
        failed.len(),
        failed[0]
    );
    let burst: Vec<Duration> = burst.into_iter().map(Result::unwrap).collect();
    let rss_burst = harness::proc_status(pid, "VmRSS");

    // 30 s at 200/s: 4 threads at 50/s each, paced on a shared schedule (a late request goes
    // at once, so the rate holds on average).
    let (threads, per_second, seconds) = (4u32, 200u32, 30u32);
    let total = per_second * seconds;
    let period = Duration::from_secs(1) / per_second;
    let start = Instant::now() + Duration::from_millis(50);
    let handles: Vec<_> = (0..threads)
        .map(|k| {
            let e = e.clone();
            std::thread::spawn(move || {
                let mut out = Vec::new();
                let mut i = k;
                while i < total {
                    let due = start + period * i;
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    out.push(scrape_once(&e, i % 2 == 0));
                    i += threads;
                }
                out
            })
        })
        .collect();
    let sustained: Vec<Result<Duration, String>> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let sustained_took = start.elapsed();
    let failed: Vec<&String> = sustained.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {total} paced scrapes failed, first: {}",
        failed.len(),
        failed[0]
    );
    let sustained: Vec<Duration> = sustained.into_iter().map(Result::unwrap).collect();
    let ended_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let rate = f64::from(total) / sustained_took.as_secs_f64();

    let (rss1, hwm) = (
        harness::proc_status(pid, "VmRSS"),
        harness::proc_status(pid, "VmHWM"),
    );
    eprintln!(
        "load: {n} concurrent in {burst_took:.2?}: {}; {total} paced in {sustained_took:.1?} \
         ({rate:.0}/s): {}; RSS {rss0} kB before, {rss_burst} kB after the burst, {rss1} kB \
         after the run (peak {hwm} kB); threads {}",
        percentiles(burst),
        percentiles(sustained),
        harness::proc_status(pid, "Threads"),
    );
    // The pacing held (the run measured what it says), and the pollers kept going.
    assert!(
        rate > 0.9 * f64::from(per_second),
        "only {rate:.0} scrapes/s"
    );
    let s = e.scrape();
    assert_eq!(
        s.find("pg_replication_up", &[])
            .iter()
            .filter(|x| x.value == 1.0)
            .count(),
        2,
        "a node went down under load:\n{}",
        e.log_text()
    );
    // `up` is the last poll's outcome and stays 1 if the pollers stalled: their last success
    // must be as recent as one round (1 s interval, 800 ms timeout, slack) before the run ended.
    for x in s.all("pg_replication_last_poll_success_timestamp_seconds") {
        assert!(
            x.value >= ended_at - 3.3,
            "{x}: no successful poll in the last seconds of the load (ended at {ended_at:.1})"
        );
    }
    assert_eq!(
        s.all("pg_replication_last_poll_success_timestamp_seconds")
            .len(),
        2
    );
    assert!(
        rss1 < RSS_LIMIT_KB && hwm < RSS_LIMIT_KB,
        "RSS {rss1} kB (peak {hwm} kB) after the load"
    );
}
