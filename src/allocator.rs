//! The global allocator, mimalloc, and the options it runs with.
//!
//! glibc's allocator fragments badly here: each archive read makes ~40 KB of short-lived buffers
//! interleaved with small long-lived index strings, so a cold build of 10,000 charts kept 430 MB
//! resident (25 MB with mimalloc, measured with the same build). `--features heap-profile` keeps
//! the system allocator, for heaptrack.
//!
//! mimalloc's defaults commit its arenas eagerly and give freed pages back to the OS only after
//! a delay, so a burst of short-lived parsing (32 concurrent alias-bomb uploads) left +73 to
//! +83 MB resident; with `purge_delay = 0` and `arena_eager_commit = 0` the same burst costs
//! about +15 MB, at no measurable throughput cost (BENCHMARKS.md, "Memory bounds"). [`tune`]
//! makes those the defaults; the environment (`MIMALLOC_PURGE_DELAY`,
//! `MIMALLOC_ARENA_EAGER_COMMIT`, or their legacy names) still decides when it names them.

use std::ffi::{CStr, c_int, c_long};

#[cfg(not(feature = "heap-profile"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// mimalloc's own option API (mimalloc.h, v3, as built by libmimalloc-sys 0.1.49; the crate's
// Rust constants still carry the v2 numbering, so the two indices are declared here and checked
// by the test against the linked library's defaults).
unsafe extern "C" {
    fn mi_option_set(option: c_int, value: c_long);
    #[cfg(test)]
    fn mi_option_get(option: c_int) -> c_long;
}

/// `mi_option_arena_eager_commit` (default 2: eager on systems that overcommit, i.e. Linux).
const ARENA_EAGER_COMMIT: c_int = 4;
/// `mi_option_purge_delay` (default 1000 ms in v3).
const PURGE_DELAY: c_int = 15;

/// Each option set, its value, and the environment variables that override it (mimalloc reads
/// `MIMALLOC_<NAME>` and the legacy name).
const DEFAULTS: [(c_int, c_long, [&CStr; 2]); 2] = [
    (PURGE_DELAY, 0, [c"MIMALLOC_PURGE_DELAY", c"MIMALLOC_RESET_DELAY"]),
    (ARENA_EAGER_COMMIT, 0, [c"MIMALLOC_ARENA_EAGER_COMMIT", c"MIMALLOC_EAGER_REGION_COMMIT"]),
];

/// Sets the options of [`DEFAULTS`] that the environment does not name, and turns transparent
/// huge pages off for the process. Called first thing in `main`, before any allocation reserves
/// an arena (`getenv` allocates nothing).
pub fn tune() {
    if cfg!(feature = "heap-profile") {
        return;
    }
    disable_transparent_huge_pages();
    for (option, value, names) in DEFAULTS {
        // SAFETY: `getenv` reads the environment with NUL-terminated names; nothing in this
        // process changes the environment concurrently (no other thread runs yet).
        let named = names.iter().any(|name| unsafe { !libc::getenv(name.as_ptr()).is_null() });
        if !named {
            // SAFETY: a valid option index of the linked mimalloc (see the test), any value.
            unsafe { mi_option_set(option, value) };
        }
    }
}

/// mimalloc advises its arena `MADV_HUGEPAGE`, so on a kernel whose transparent huge pages are
/// in `madvise` mode (the common default) every fault in a purged part of the arena gets a fresh
/// 2 MiB page that the kernel zeroes whole, where 4 KiB would do: with `purge_delay = 0` that
/// happens all through a start (BENCHMARKS.md, "Transparent huge pages"). With them off for this
/// process, the same restart of 100,000 versions keeps about 45 MiB less resident and spends half
/// the system time. Huge pages would help a large random-access heap's TLB; the index is walked
/// in order, and the served bodies are read sequentially.
fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `PR_SET_THP_DISABLE` takes integer arguments and changes only this process's
        // memory policy (inherited by children, which this server does not start).
        let set = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
        // Refused only by kernels older than 3.15: they keep their huge pages, nothing else changes.
        let _ = set;
    }
}

#[cfg(all(test, not(feature = "heap-profile")))]
mod tests {
    use super::*;

    #[test]
    fn tune_sets_the_linked_mimallocs_options_and_turns_huge_pages_off() {
        let named = |option: c_int| {
            DEFAULTS.iter().any(|(o, _, names)| {
                *o == option && names.iter().any(|n| std::env::var_os(n.to_str().unwrap()).is_some())
            })
        };
        // SAFETY: reading options of the linked mimalloc.
        let get = |option| unsafe { mi_option_get(option) };
        // mimalloc's own defaults identify the indices (no other test sets them).
        if !named(PURGE_DELAY) {
            assert_eq!(get(PURGE_DELAY), 1000, "mi_option_purge_delay moved: check mimalloc.h");
        }
        if !named(ARENA_EAGER_COMMIT) {
            assert_eq!(get(ARENA_EAGER_COMMIT), 2, "mi_option_arena_eager_commit moved: check mimalloc.h");
        }
        tune();
        for (option, value, _) in DEFAULTS {
            if !named(option) {
                assert_eq!(get(option), value);
            }
        }
        #[cfg(target_os = "linux")]
        {
            // SAFETY: reads this process's flag.
            let disabled = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
            assert_eq!(disabled, 1, "transparent huge pages are still on for this process");
        }
    }
}
