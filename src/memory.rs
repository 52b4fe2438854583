//! How the process asks glibc's malloc to hold its memory. With a thousand nodes the heap churns
//! every second (each round's reports, each page's chunks and its gzip, freed a round later) on
//! several threads; glibc's defaults then keep freed memory: one arena per thread that ever
//! allocated (each trimmed only from its top), and a large-block threshold that rises after the
//! first large free, so that the pages' megabytes come from the arenas instead of `mmap`.
//! Measured at 1002 nodes (heaptrack and `malloc_stats`): 68 MiB in use, 84 MiB held.
//! Other allocators and platforms: nothing to do.

/// At the start, before any thread: two arenas, and blocks from 256 KiB (a page, its gzip) from
/// `mmap`, returned to the system when freed.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

/// After a page is built (the largest churn, off the runtime's workers): hand the free pages
/// in the middle of the arenas back to the system, not only those at their top.
pub fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim is thread-safe and only returns free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}
