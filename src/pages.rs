//! The `/metrics` page, built when snapshots are published, never by a scrape.
//!
//! A builder task waits for publishes, then takes the latest snapshot and makes its page: each
//! cluster whose entry changed since the last page is rendered into a chunk, the others' lines
//! are copied from the last page, family by family, and the result is gzipped once.
//! Publishes that arrive while a page is being built are coalesced into the next one, and the
//! builder rests between pages so that it takes at most [`BUILDER_SHARE`] of one core: with
//! hundreds of clusters publishing every second, the page is rebuilt about once a second
//! rather than once per publish. Scrapes copy the latest page's bytes. Only the latest page is
//! kept: an older one is freed when the last response holding it is sent.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::core::model::{ClusterSnapshot, Snapshot};
use crate::render::{self, Part, Span};
use crate::store::{BuildInfo, Store};

/// The largest share of one core the builder spends: after a page that took `t` to build, it
/// waits `t × (1 / share − 1)` before the next (capped at one poll interval). At 1002 nodes a
/// page takes ≈ 20 ms: about one page a second, each cluster's data at most about a second
/// older in it than in its round (5 % built two or three pages a second, 40 ms/s of the
/// exporter's CPU, for data scraped every 15 s).
pub(crate) const BUILDER_SHARE: f64 = 0.025;

/// One snapshot's page, plain and gzip.
pub(crate) struct Page {
    /// The snapshot this page shows (tests only: in service a page does not keep an older
    /// generation of the clusters' reports alive beside the store's latest).
    #[cfg(test)]
    pub snapshot: Arc<Snapshot>,
    pub plain: Bytes,
    pub gzip: Bytes,
    /// Whether every cluster of `snapshot` had completed a round (what `/ready` says).
    pub ready: bool,
    /// How long building this page took.
    pub build_time: Duration,
}

/// The latest page.
pub(crate) struct Pages {
    current: RwLock<Arc<Page>>,
}

impl Pages {
    pub(crate) fn new(page: Page) -> Arc<Pages> {
        Arc::new(Pages {
            current: RwLock::new(Arc::new(page)),
        })
    }

    /// The latest page (an `Arc` clone under a short read lock).
    pub(crate) fn current(&self) -> Arc<Page> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set(&self, page: Page) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(page);
    }
}

/// Builds pages; a cluster whose entry did not change since the last page is copied from that
/// page instead of rendered again.
pub(crate) struct PageBuilder {
    build: BuildInfo,
    /// The last page's text (shared with that page's `plain`).
    last: Arc<String>,
    /// Per cluster of the last page: the entry it shows, and where its lines are in `last`.
    /// A page's clusters are kept in the page itself, not beside it in chunks of their own: at
    /// a thousand nodes that is 4 MB less, the whole page once.
    /// The entry is held weakly (its reports are freed when the store replaces it; the
    /// allocation stays, so its address is not reused while the entry is remembered).
    kept: HashMap<String, (Weak<ClusterSnapshot>, Vec<Span>)>,
    /// How many clusters the last page rendered (the others it copied).
    rendered: usize,
    /// The render's buffers, kept from cluster to cluster and page to page.
    scratch: render::Scratch,
}

/// A page's text as the bytes scrapes send.
struct Text(Arc<String>);

impl AsRef<[u8]> for Text {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl PageBuilder {
    pub(crate) fn new(build: BuildInfo) -> PageBuilder {
        PageBuilder {
            build,
            last: Arc::default(),
            kept: HashMap::new(),
            rendered: 0,
            scratch: render::Scratch::default(),
        }
    }

    /// The page of `snapshot`: byte for byte [`render::render`] of it.
    pub(crate) fn page(&mut self, snapshot: Arc<Snapshot>, ready: bool) -> Page {
        let started = Instant::now();
        // Per cluster: its lines in the last page, or `None` for a chunk rendered now.
        let mut plan = Vec::with_capacity(snapshot.clusters.len());
        let mut fresh = Vec::new();
        for cluster in &snapshot.clusters {
            let kept = self
                .kept
                .remove(&cluster.name)
                .filter(|(seen, _)| {
                    std::ptr::eq(seen.as_ptr(), Arc::as_ptr(cluster))
                        && !render::reads_other_clusters(cluster)
                })
                .map(|(_, spans)| spans);
            if kept.is_none() {
                fresh.push(self.scratch.cluster_chunk(&snapshot, cluster));
            }
            plan.push(kept);
        }
        // Clusters gone from the snapshot drop out with what is left of the old map.
        self.kept.clear();
        self.rendered = fresh.len();
        let mut chunks = fresh.iter();
        let parts = snapshot
            .clusters
            .iter()
            .zip(&plan)
            .map(|(cluster, kept)| match kept {
                Some(spans) => Part::kept(&cluster.name, &self.last, spans),
                None => chunks.next().expect("a chunk per cluster not kept").part(),
            })
            .collect();
        let (plain, placed) = render::assemble_parts(&self.build, &snapshot, parts);
        drop(fresh);
        for (cluster, spans) in snapshot.clusters.iter().zip(placed) {
            self.kept
                .insert(cluster.name.clone(), (Arc::downgrade(cluster), spans));
        }
        self.last = Arc::new(plain);
        let gzip = gzip(self.last.as_bytes());
        Page {
            #[cfg(test)]
            snapshot,
            plain: Bytes::from_owner(Text(self.last.clone())),
            gzip,
            ready,
            build_time: started.elapsed(),
        }
    }

    /// How many clusters the last page rendered (for tests).
    #[cfg(test)]
    fn rendered(&self) -> usize {
        self.rendered
    }
}

/// Rebuilds the page after publishes until the task is aborted; `max_rest` caps the rest
/// between two pages (the poll interval: a page is never more than about one interval behind).
pub(crate) async fn run_builder(
    store: Arc<Store>,
    pages: Arc<Pages>,
    mut builder: PageBuilder,
    max_rest: Duration,
) {
    let mut rest = Duration::ZERO;
    let mut last = Instant::now();
    loop {
        store.changed().await;
        if let Some(wait) = rest.checked_sub(last.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        let (snapshot, ready) = store.current_and_ready();
        // Rendering and gzip are CPU work of up to tens of milliseconds with hundreds of
        // clusters: off the runtime's worker threads, so that polls and scrapes go on.
        let Ok((page, back)) = tokio::task::spawn_blocking(move || {
            let page = builder.page(snapshot, ready);
            // This page's churn (the changed clusters' chunks, freed once assembled) and what
            // the rounds freed since the last page go back to the system now, not a page later.
            crate::memory::release();
            (page, builder)
        })
        .await
        else {
            // A panic while rendering (a bug): keep serving the last page, start afresh.
            tracing::error!(
                "building the /metrics page panicked (a bug in the exporter; please report it)"
            );
            return;
        };
        builder = back;
        last = Instant::now();
        rest = page
            .build_time
            .mul_f64(1.0 / BUILDER_SHARE - 1.0)
            .min(max_rest);
        pages.set(page);
    }
}

pub(crate) fn gzip(plain: &[u8]) -> Bytes {
    // Level 1: metric pages are repetitive enough that the fastest level already shrinks them
    // about eight-fold, at a fraction of the default level's time.
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(plain.len() / 6),
        flate2::Compression::fast(),
    );
    encoder
        .write_all(plain)
        .and_then(|()| encoder.finish())
        .map(Bytes::from)
        .expect("gzip into memory cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{ClusterView, NodeReport};
    use std::io::Read as _;

    const BUILD: BuildInfo = BuildInfo {
        version: "0",
        revision: "r",
    };

    fn cluster(name: &str, nodes: &[&str]) -> ClusterSnapshot {
        ClusterSnapshot {
            name: name.into(),
            nodes: nodes.iter().map(|n| NodeReport::new(*n, *n)).collect(),
            view: ClusterView::default(),
            patroni: None,
            endpoints: Vec::new(),
        }
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn a_page_is_the_render_of_its_snapshot_and_keeps_unchanged_chunks() {
        let store = Store::new(&[]);
        let mut builder = PageBuilder::new(BUILD);
        store.put(cluster("zeta", &["z1"]));
        store.put(cluster("alpha", &["a1", "a2"]));
        let first = builder.page(store.current(), true);
        assert_eq!(first.plain, render::render(&first.snapshot, &BUILD));
        assert_eq!(gunzip(&first.gzip), first.plain);
        assert_eq!(builder.rendered(), 2);
        store.put(cluster("alpha", &["a1"]));
        let second = builder.page(store.current(), true);
        assert_eq!(second.plain, render::render(&second.snapshot, &BUILD));
        assert_eq!(
            builder.rendered(),
            1,
            "zeta did not publish: its lines are copied from the first page, not rendered again"
        );
        assert_ne!(second.plain, first.plain);
        // Nothing published: the page is copied whole, and still the render of its snapshot.
        let again = builder.page(store.current(), true);
        assert_eq!((builder.rendered(), &again.plain), (0, &second.plain));
        drop((first, second));
        store.remove("zeta");
        let third = builder.page(store.current(), true);
        assert_eq!(third.plain, render::render(&third.snapshot, &BUILD));
        assert!(
            !builder.kept.contains_key("zeta"),
            "a removed cluster is forgotten"
        );
        assert!(!String::from_utf8_lossy(&third.plain).contains("zeta"));
    }

    #[tokio::test]
    async fn the_builder_publishes_the_page_of_the_latest_snapshot() {
        let store = Store::new(&[]);
        let mut builder = PageBuilder::new(BUILD);
        let pages = Pages::new(builder.page(store.current(), false));
        let task = tokio::spawn(run_builder(
            store.clone(),
            pages.clone(),
            builder,
            Duration::from_millis(50),
        ));
        for round in 0..20 {
            store.put(cluster("a", &[&format!("n{round}")]));
            store.put(cluster("b", &["b1"]));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let page = pages.current();
            if Arc::ptr_eq(&page.snapshot, &store.current()) {
                assert!(page.ready);
                assert_eq!(page.plain, render::render(&store.current(), &BUILD));
                assert!(String::from_utf8_lossy(&page.plain).contains("node=\"n19\""));
                break;
            }
            assert!(Instant::now() < deadline, "no page of the latest snapshot");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        task.abort();
    }
}
