//! Scanner detection: known tools' User-Agents, and one source probing many user names.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::time::{Duration, Instant};

use crate::error::GuardError;

/// Case-insensitive substring patterns for scanner User-Agents.
#[derive(Debug, Clone)]
pub struct UserAgentMatcher {
    /// Lower-cased patterns.
    patterns: Vec<String>,
}

impl UserAgentMatcher {
    /// Compiles the patterns; an empty one would match everything and is refused.
    pub fn new(patterns: &[String]) -> Result<Self, GuardError> {
        let mut out = Vec::with_capacity(patterns.len());
        for (index, p) in patterns.iter().enumerate() {
            let p = p.trim();
            if p.is_empty() {
                return Err(GuardError::EmptyScannerPattern { index });
            }
            out.push(p.to_ascii_lowercase());
        }
        Ok(Self { patterns: out })
    }

    /// The first pattern contained in `user_agent` (ASCII case-insensitively), without
    /// allocating.
    pub fn find(&self, user_agent: &str) -> Option<&str> {
        let hay = user_agent.as_bytes();
        self.patterns
            .iter()
            .find(|p| {
                let needle = p.as_bytes();
                needle.len() <= hay.len()
                    && hay
                        .windows(needle.len())
                        .any(|w| w.eq_ignore_ascii_case(needle))
            })
            .map(String::as_str)
    }
}

/// Most distinct user names remembered per source: the enumeration threshold's ceiling.
pub(crate) const MAX_PROBED: usize = 64;

/// Distinct user names one source used in the current window, as keyed hashes (a collision
/// needs 2⁶⁴ work against a secret key, and would only undercount).
#[derive(Debug, Clone)]
pub(crate) struct Probes {
    window_start: Instant,
    len: u8,
    users: [u64; MAX_PROBED],
}

impl Probes {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            window_start: now,
            len: 0,
            users: [0; MAX_PROBED],
        }
    }

    /// Records `user` and returns how many distinct users are in the window.
    pub(crate) fn record(&mut self, now: Instant, window: Duration, user: u64) -> usize {
        if now.saturating_duration_since(self.window_start) >= window {
            self.window_start = now;
            self.len = 0;
        }
        let n = usize::from(self.len);
        if !self.users[..n].contains(&user) && n < MAX_PROBED {
            self.users[n] = user;
            self.len += 1;
        }
        usize::from(self.len)
    }
}

/// Keyed hashing of user names, ASCII-case-folded (`Alice` and `alice` are one probe).
#[derive(Debug, Clone, Default)]
pub(crate) struct UserHasher(RandomState);

impl UserHasher {
    pub(crate) fn hash(&self, user: &str) -> u64 {
        let mut h = self.0.build_hasher();
        for b in user.bytes() {
            h.write_u8(b.to_ascii_lowercase());
        }
        h.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_origin;

    #[test]
    fn user_agent_patterns_match_case_insensitively() {
        let m = UserAgentMatcher::new(&["friendly-scanner".into(), "SIPVicious".into()]).unwrap();
        assert_eq!(m.find("friendly-scanner"), Some("friendly-scanner"));
        assert_eq!(m.find("Friendly-Scanner/0.3.3"), Some("friendly-scanner"));
        assert_eq!(m.find("x sipvicious y"), Some("sipvicious"));
        assert_eq!(m.find("Linphone/5.2"), None);
        assert_eq!(m.find(""), None);
        assert_eq!(m.find("friendly"), None);
        assert!(UserAgentMatcher::new(&["ok".into(), "  ".into()]).is_err());
    }

    #[test]
    fn probes_count_distinct_users_per_window() {
        let t0 = test_origin();
        let h = UserHasher::default();
        let w = Duration::from_secs(60);
        let mut p = Probes::new(t0);
        assert_eq!(p.record(t0, w, h.hash("100")), 1);
        assert_eq!(p.record(t0, w, h.hash("100")), 1);
        assert_eq!(p.record(t0, w, h.hash("ALICE")), 2);
        assert_eq!(p.record(t0, w, h.hash("alice")), 2);
        for i in 0..200 {
            p.record(t0, w, h.hash(&i.to_string()));
        }
        assert_eq!(p.record(t0, w, h.hash("x")), MAX_PROBED);
        // A new window starts from nothing.
        assert_eq!(p.record(t0 + w, w, h.hash("100")), 1);
    }
}
