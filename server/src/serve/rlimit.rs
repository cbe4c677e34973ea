//! The open-file limit. A server holds a descriptor per connection besides its own files, and
//! the soft limit is often 1024 while the hard limit is far higher: like Go's runtime, Chartroom
//! raises the soft limit to the hard limit at start.

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns (before, after), or `None` where
/// the limit cannot be read.
#[cfg(unix)]
pub fn raise_open_files_limit() -> Option<(u64, u64)> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we own; no other memory is touched.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    let before = limit.rlim_cur;
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        // SAFETY: setrlimit only reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = limit.rlim_max;
        }
    }
    Some((before, limit.rlim_cur))
}

#[cfg(not(unix))]
pub fn raise_open_files_limit() -> Option<(u64, u64)> {
    None
}

/// The soft open-file limit now (`None`: unknown or unlimited).
#[cfg(unix)]
pub(crate) fn open_files_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: as above.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 || limit.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    Some(limit.rlim_cur)
}

#[cfg(not(unix))]
pub(crate) fn open_files_limit() -> Option<u64> {
    None
}
