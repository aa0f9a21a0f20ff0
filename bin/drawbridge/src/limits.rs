//! Process limits drawbridge raises for itself at start.

/// Highest soft open-file limit drawbridge asks for: far above any media port range (four
/// sockets per call), and low enough that per-descriptor tables stay small.
const NOFILE_CEILING: u64 = 1 << 20;

/// Below this many open files, the media relay holds only a few hundred calls: worth a
/// warning that says how to raise it.
const NOFILE_LOW: u64 = 8192;

/// Raises the soft open-file limit to the hard one. Every call with media holds four
/// sockets, and parked sockets save their creation on the next call; a shell's default
/// soft limit of 1024 would cap the relay at about a hundred calls although the hard limit
/// (often 524288 under systemd) allows far more. Returns the limit now in force.
pub(crate) fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let soft = limit.current?;
    let target = limit.maximum.unwrap_or(NOFILE_CEILING).min(NOFILE_CEILING);
    let now = if soft < target {
        let raised = Rlimit {
            current: Some(target),
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => {
                tracing::info!(from = soft, to = target, "open-file limit raised");
                target
            }
            Err(e) => {
                tracing::warn!(limit = soft, error = %e, "could not raise the open-file limit");
                soft
            }
        }
    } else {
        soft
    };
    if now < NOFILE_LOW {
        tracing::warn!(
            limit = now,
            calls_with_media = now / 8,
            "low open-file limit: media for only this many calls; raise the hard limit (LimitNOFILE= in the systemd unit, or ulimit -Hn)"
        );
    }
    Some(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_the_hard_limit() {
        use rustix::process::{Resource, getrlimit};
        let before = getrlimit(Resource::Nofile);
        let now = raise_open_file_limit().expect("Linux reports a soft limit");
        let after = getrlimit(Resource::Nofile);
        assert_eq!(after.current, Some(now));
        let expected = before
            .maximum
            .unwrap_or(NOFILE_CEILING)
            .min(NOFILE_CEILING)
            .max(before.current.unwrap_or(0));
        assert_eq!(now, expected);
        assert_eq!(after.maximum, before.maximum, "the hard limit is untouched");
    }
}
