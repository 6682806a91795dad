//! The open-files limit. Every WebSocket is a file descriptor, and a service manager hands
//! leaf a soft limit of 1,024 (systemd's default): a room of screens and a few phones more
//! would lock every new client out. leaf raises the soft limit to the hard one at start.

/// The soft and hard limits on open files now; `None` if the system would not say.
pub fn limits() -> Option<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (read == 0).then_some((limit.rlim_cur, limit.rlim_max))
}

/// Raises the soft limit to the hard limit; the soft limit in force afterwards.
pub fn raise() -> Option<u64> {
    let (soft, hard) = limits()?;
    if soft >= hard {
        return Some(soft);
    }
    let raised = libc::rlimit {
        rlim_cur: hard,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads the struct we own; raising the soft limit up to the hard one
    // needs no privilege.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        tracing::info!(from = soft, to = hard, "raised the open-files limit");
        Some(hard)
    } else {
        let error = std::io::Error::last_os_error();
        tracing::warn!(soft, hard, %error, "cannot raise the open-files limit; leaf serves at most about that many clients");
        Some(soft)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_the_hard_limit() {
        let after = raise().unwrap();
        let (soft, hard) = limits().unwrap();
        assert_eq!((after, soft), (hard, hard));
    }
}
