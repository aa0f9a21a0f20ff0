//! Dead-peer detection on SIP TCP/TLS sockets: TCP keep-alive plus `TCP_USER_TIMEOUT`.
//!
//! A provider host that reboots, or a NAT/firewall that forgets the connection, sends
//! nothing: without probes the connection looks open until the idle timeout, and
//! everything sent on it vanishes. The kernel probes an idle connection and fails it
//! (reads and writes then return `ETIMEDOUT`) once the peer stops acknowledging; the
//! user timeout does the same when data we sent stays unacknowledged (keep-alive probes
//! are not sent while data is in flight). The connection task then ends like any close.

use std::time::Duration;

use socket2::SockRef;

/// TCP keep-alive and user timeout for every SIP TCP/TLS socket (accepted and outbound).
///
/// On Linux, when a user timeout is set it replaces the probe count: the connection
/// fails once probes have gone unanswered for `user_timeout` since the last segment the
/// peer sent. [`TcpKeepalive::from_idle`] keeps the two consistent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpKeepalive {
    /// Silence before the first probe (`TCP_KEEPIDLE`; whole seconds, at least 1).
    pub idle: Duration,
    /// Between unanswered probes (`TCP_KEEPINTVL`; whole seconds, at least 1).
    pub interval: Duration,
    /// Unanswered probes before the connection fails (`TCP_KEEPCNT`).
    pub probes: u32,
    /// Data unacknowledged for this long fails the connection (`TCP_USER_TIMEOUT`,
    /// milliseconds).
    pub user_timeout: Duration,
}

impl TcpKeepalive {
    /// The settings derived from one number, the `sip.tcp_keepalive_secs` option: first
    /// probe after `idle`, then three probes `idle / 3` apart (at least 1 s), and a user
    /// timeout equal to when the last probe goes unanswered. For the default 30 s: probes
    /// at 30, 40, 50 s, dead at 60 s, and unacknowledged data fails after 60 s.
    pub fn from_idle(idle: Duration) -> Self {
        let idle = Duration::from_secs(idle.as_secs().max(1));
        let interval = Duration::from_secs((idle.as_secs() / 3).max(1));
        let probes = 3;
        Self {
            idle,
            interval,
            probes,
            user_timeout: idle + interval * probes,
        }
    }

    /// The longest a silent peer can go unnoticed on an idle connection.
    pub fn dead_after(&self) -> Duration {
        (self.idle + self.interval * self.probes).max(self.user_timeout)
    }
}

impl Default for TcpKeepalive {
    /// 30 s idle, 3 probes 10 s apart, 60 s user timeout: a dead provider is noticed
    /// within a minute, while a healthy idle connection costs one probe every 30 s
    /// (which also keeps NAT and firewall state fresh; common NAT TCP timeouts are
    /// minutes to hours).
    fn default() -> Self {
        Self::from_idle(Duration::from_secs(30))
    }
}

/// Turns keep-alive on with `k` and returns the settings the kernel reports back (so a
/// value the kernel adjusted shows up as it is). `None` leaves the socket untouched.
pub(super) fn configure(socket: SockRef<'_>, k: Option<&TcpKeepalive>) -> Option<TcpKeepalive> {
    let k = k?;
    match apply(&socket, k).and_then(|()| read(&socket)) {
        Ok(effective) => Some(effective),
        Err(e) => {
            // The connection still works; it only loses dead-peer detection.
            tracing::warn!(error = %e, "TCP keep-alive not set on a SIP connection");
            None
        }
    }
}

fn apply(socket: &SockRef<'_>, k: &TcpKeepalive) -> std::io::Result<()> {
    let one = Duration::from_secs(1);
    let params = socket2::TcpKeepalive::new()
        .with_time(k.idle.max(one))
        .with_interval(k.interval.max(one))
        .with_retries(k.probes.max(1));
    socket.set_tcp_keepalive(&params)?;
    socket.set_keepalive(true)?;
    socket.set_tcp_user_timeout((!k.user_timeout.is_zero()).then_some(k.user_timeout))
}

fn read(socket: &SockRef<'_>) -> std::io::Result<TcpKeepalive> {
    if !socket.keepalive()? {
        return Err(std::io::Error::other("SO_KEEPALIVE reads back off"));
    }
    Ok(TcpKeepalive {
        idle: socket.tcp_keepalive_time()?,
        interval: socket.tcp_keepalive_interval()?,
        probes: socket.tcp_keepalive_retries()?,
        user_timeout: socket.tcp_user_timeout()?.unwrap_or_default(),
    })
}

/// Why a connection failed, when the error says the peer is gone rather than that it
/// closed or misbehaved: `ETIMEDOUT` (keep-alive probes or data unanswered) or an
/// unreachable host or network (an ICMP error while probing).
pub(super) fn dead_peer_reason(e: &std::io::Error) -> Option<&'static str> {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::TimedOut => Some("keepalive timeout"),
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => Some("peer unreachable"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_idle_derives_probes_and_a_matching_user_timeout() {
        let k = TcpKeepalive::default();
        assert_eq!(
            (k.idle, k.interval, k.probes, k.user_timeout),
            (
                Duration::from_secs(30),
                Duration::from_secs(10),
                3,
                Duration::from_secs(60)
            )
        );
        assert_eq!(k.dead_after(), Duration::from_secs(60));
        // Short idle times keep whole-second probes (the kernel's unit).
        let k = TcpKeepalive::from_idle(Duration::from_secs(2));
        assert_eq!(k.interval, Duration::from_secs(1));
        assert_eq!(k.user_timeout, Duration::from_secs(5));
        let k = TcpKeepalive::from_idle(Duration::ZERO);
        assert_eq!(k.idle, Duration::from_secs(1));
    }

    #[test]
    fn timeouts_and_unreachable_are_dead_peers_resets_are_not() {
        use std::io::{Error, ErrorKind};
        assert_eq!(
            dead_peer_reason(&Error::from(ErrorKind::TimedOut)),
            Some("keepalive timeout")
        );
        assert_eq!(
            dead_peer_reason(&Error::from(ErrorKind::HostUnreachable)),
            Some("peer unreachable")
        );
        assert_eq!(
            dead_peer_reason(&Error::from(ErrorKind::ConnectionReset)),
            None
        );
    }
}
