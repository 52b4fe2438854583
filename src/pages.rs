//! The `/metrics` page, built when snapshots are published, never by a scrape.
//!
//! A builder task waits for publishes, then takes the latest snapshot and makes its page: each
//! cluster whose entry changed since the last page is rendered into a chunk, the others keep
//! the chunk they had in the last page, and the chunks are merged family by family straight
//! into gzip, so that the plain text is never whole in memory beside the page being served (a
//! scrape without gzip merges the same chunks for itself). Publishes that arrive while a page
//! is being built are coalesced into the next one, and the builder rests between pages so that
//! it takes at most [`BUILDER_SHARE`] of one core: with hundreds of clusters publishing every
//! second, the page is rebuilt about once a second rather than once per publish. Scrapes copy
//! the latest page's bytes. Only the latest page is kept: an older one is freed when the last
//! response holding it is sent.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::core::model::{ClusterSnapshot, Snapshot};
use crate::render::{self, Chunk};
use crate::store::{BuildInfo, Store};

/// The largest share of one core the builder spends: after a page that took `t` to build, it
/// waits `t × (1 / share − 1)` before the next (capped at one poll interval). At 1002 nodes a
/// page takes ≈ 20 ms: about one page a second, each cluster's data at most about a second
/// older in it than in its round (5 % built two or three pages a second, 40 ms/s of the
/// exporter's CPU, for data scraped every 15 s).
pub(crate) const BUILDER_SHARE: f64 = 0.025;

/// One snapshot's page: its gzip, and the chunks it was merged from.
pub(crate) struct Page {
    /// The snapshot this page shows (tests only: in service a page does not keep an older
    /// generation of the clusters' reports alive beside the store's latest).
    #[cfg(test)]
    pub snapshot: Arc<Snapshot>,
    /// The exporter's own families.
    head: Chunk,
    /// The clusters' chunks (shared with the builder, which keeps the unchanged ones for the
    /// next page).
    chunks: Vec<Arc<Chunk>>,
    pub gzip: Bytes,
    /// Whether every cluster of `snapshot` had completed a round (what `/ready` says).
    pub ready: bool,
    /// How long building this page took.
    pub build_time: Duration,
    /// The pages before this one, as its own families show them.
    #[cfg(test)]
    pub built_before: render::PagesBuilt,
}

impl Page {
    /// The page's text, for a scrape without gzip: the chunks merged again (a copy of their
    /// bytes, no render), byte for byte what the gzip holds.
    pub(crate) fn plain(&self) -> Bytes {
        let chunks: Vec<&Chunk> = self.chunks.iter().map(Arc::as_ref).collect();
        let mut text = String::with_capacity(render::merged_len(&self.head, &chunks));
        render::merge_into(&self.head, &chunks, &mut text, usize::MAX, |_| {});
        Bytes::from(text)
    }
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
        let old = std::mem::replace(
            &mut *self.current.write().unwrap_or_else(|e| e.into_inner()),
            Arc::new(page),
        );
        // Freed (when no response holds it) outside the lock scrapes read under.
        drop(old);
    }
}

/// Builds pages; a cluster whose entry did not change since the last page keeps its chunk
/// instead of being rendered again.
pub(crate) struct PageBuilder {
    build: BuildInfo,
    /// Per cluster of the last page: the entry it shows, and its chunk (shared with that page).
    /// The entry is held weakly (its reports are freed when the store replaces it; the
    /// allocation stays, so its address is not reused while the entry is remembered).
    kept: HashMap<String, (Weak<ClusterSnapshot>, Arc<Chunk>)>,
    /// How many clusters the last page rendered (the others it kept).
    rendered: usize,
    /// The render's buffers, kept from cluster to cluster and page to page.
    scratch: render::Scratch,
    /// The pages built so far and what they took (shown by the next page).
    built: render::PagesBuilt,
}

/// How much of a page is merged before it goes to the gzip encoder.
const GZIP_PIECE: usize = 64 * 1024;

impl PageBuilder {
    pub(crate) fn new(build: BuildInfo) -> PageBuilder {
        PageBuilder {
            build,
            kept: HashMap::new(),
            rendered: 0,
            scratch: render::Scratch::default(),
            built: render::PagesBuilt::default(),
        }
    }

    /// The page of `snapshot`: its gzip holds byte for byte [`render::render_page`] of it after
    /// the pages this builder built before.
    pub(crate) fn page(&mut self, snapshot: Arc<Snapshot>, ready: bool) -> Page {
        let started = Instant::now();
        let mut rendered = 0;
        let chunks: Vec<Arc<Chunk>> = snapshot
            .clusters
            .iter()
            .map(|cluster| {
                let kept = self.kept.remove(&cluster.name).filter(|(seen, _)| {
                    std::ptr::eq(seen.as_ptr(), Arc::as_ptr(cluster))
                        && !render::reads_other_clusters(cluster)
                });
                match kept {
                    Some((_, chunk)) => chunk,
                    None => {
                        rendered += 1;
                        Arc::new(self.scratch.cluster_chunk(&snapshot, cluster))
                    }
                }
            })
            .collect();
        // Clusters gone from the snapshot drop out with what is left of the old map.
        self.kept.clear();
        for (cluster, chunk) in snapshot.clusters.iter().zip(&chunks) {
            self.kept.insert(
                cluster.name.clone(),
                (Arc::downgrade(cluster), chunk.clone()),
            );
        }
        self.rendered = rendered;
        let built_before = self.built;
        let head = render::exporter_chunk(&self.build, &snapshot, built_before);
        let gzip = gzip_chunks(&head, &chunks);
        let build_time = started.elapsed();
        self.built.pages += 1;
        self.built.seconds += build_time.as_secs_f64();
        Page {
            #[cfg(test)]
            snapshot,
            head,
            chunks,
            gzip,
            ready,
            build_time,
            #[cfg(test)]
            built_before,
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

/// A gzip of `plain_len` bytes of text into memory, fed by `fill`.
fn gzip_with(plain_len: usize, fill: impl FnOnce(&mut dyn FnMut(&[u8]))) -> Bytes {
    // Level 1: metric pages are repetitive enough that the fastest level already shrinks them
    // about eight-fold, at a fraction of the default level's time.
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(plain_len / 6),
        flate2::Compression::fast(),
    );
    fill(&mut |bytes| {
        encoder
            .write_all(bytes)
            .expect("gzip into memory cannot fail")
    });
    encoder
        .finish()
        .map(Bytes::from)
        .expect("gzip into memory cannot fail")
}

pub(crate) fn gzip(plain: &[u8]) -> Bytes {
    gzip_with(plain.len(), |write| write(plain))
}

/// The gzip of the page merged from `head` and `chunks`, compressed piece by piece as it is
/// merged.
fn gzip_chunks(head: &Chunk, chunks: &[Arc<Chunk>]) -> Bytes {
    let chunks: Vec<&Chunk> = chunks.iter().map(Arc::as_ref).collect();
    gzip_with(render::merged_len(head, &chunks), |write| {
        let mut piece = String::with_capacity(GZIP_PIECE + 4096);
        render::merge_into(head, &chunks, &mut piece, GZIP_PIECE, |p| {
            write(p.as_bytes());
            p.clear();
        });
        write(piece.as_bytes());
    })
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

    /// What `render` makes of a page's snapshot after the pages before it.
    fn rendered(page: &Page) -> Bytes {
        Bytes::from(render::render_page(
            &page.snapshot,
            &BUILD,
            page.built_before,
        ))
    }

    /// The value of the one series of `name` on `page`.
    fn value(page: &Page, name: &str) -> f64 {
        let text = String::from_utf8(page.plain().to_vec()).unwrap();
        let line = text
            .lines()
            .find(|l| l.split(' ').next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} on the page"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    #[test]
    fn a_page_counts_the_pages_before_it_and_their_build_time() {
        let store = Store::new(&[]);
        store.put(cluster("alpha", &["a1", "a2"]));
        let mut builder = PageBuilder::new(BUILD);
        let pages: Vec<Page> = (0..3)
            .map(|i| {
                store.put(cluster("zeta", &[&format!("z{i}")]));
                builder.page(store.current(), true)
            })
            .collect();
        let mut seconds = 0.0;
        for (before, page) in pages.iter().enumerate() {
            assert_eq!(
                value(page, "pg_replication_exporter_pages_built_total"),
                before as f64
            );
            let shown = value(page, "pg_replication_exporter_page_build_seconds_total");
            assert!(
                (shown - seconds).abs() < 1e-9,
                "page {before}: {shown} s shown, the pages before it took {seconds} s"
            );
            seconds += page.build_time.as_secs_f64();
        }
        assert!(seconds > 0.0, "building a page takes time");
    }

    #[test]
    fn a_page_is_the_render_of_its_snapshot_and_keeps_unchanged_chunks() {
        let store = Store::new(&[]);
        let mut builder = PageBuilder::new(BUILD);
        store.put(cluster("zeta", &["z1"]));
        store.put(cluster("alpha", &["a1", "a2"]));
        let first = builder.page(store.current(), true);
        assert_eq!(first.plain(), rendered(&first));
        assert_eq!(gunzip(&first.gzip), first.plain());
        assert_eq!(builder.rendered(), 2);
        store.put(cluster("alpha", &["a1"]));
        let second = builder.page(store.current(), true);
        assert_eq!(second.plain(), rendered(&second));
        assert_eq!(
            builder.rendered(),
            1,
            "zeta did not publish: its lines are copied from the first page, not rendered again"
        );
        assert_ne!(second.plain(), first.plain());
        // Nothing published: the page is copied whole, and still the render of its snapshot.
        let again = builder.page(store.current(), true);
        assert_eq!(builder.rendered(), 0);
        assert_eq!(again.plain(), rendered(&again));
        drop((first, second));
        store.remove("zeta");
        let third = builder.page(store.current(), true);
        assert_eq!(third.plain(), rendered(&third));
        assert!(
            !builder.kept.contains_key("zeta"),
            "a removed cluster is forgotten"
        );
        assert!(!String::from_utf8_lossy(&third.plain()).contains("zeta"));
    }

    #[test]
    fn a_page_larger_than_a_gzip_piece_is_gzipped_whole_and_in_order() {
        let store = Store::new(&[]);
        for i in 0..300 {
            store.put(cluster(&format!("c{i:03}"), &["n1", "n2", "n3"]));
        }
        let page = PageBuilder::new(BUILD).page(store.current(), true);
        let plain = render::render(&page.snapshot, &BUILD);
        assert!(
            plain.len() > 4 * GZIP_PIECE,
            "{} bytes: too small to need several pieces",
            plain.len()
        );
        assert_eq!(page.plain(), plain);
        assert_eq!(gunzip(&page.gzip), plain.as_bytes());
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
                assert_eq!(page.plain(), rendered(&page));
                assert!(String::from_utf8_lossy(&page.plain()).contains("node=\"n19\""));
                break;
            }
            assert!(Instant::now() < deadline, "no page of the latest snapshot");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        task.abort();
    }
}
