//! Prometheus text exposition of the counters the cores keep.

use std::fmt::Write as _;

use drawbridge_transport::wireguard::Shared;
use drawbridge_tunnel::ALL_REASONS;

/// Appends the WireGuard server's counters.
pub(crate) fn render_wireguard(shared: &Shared, out: &mut String) {
    let c = shared.server.counters();
    let counters: [(&str, &str, u64); 10] = [
        (
            "datagrams",
            "Outer datagrams received on the WireGuard sockets.",
            c.datagrams,
        ),
        (
            "handshakes",
            "Handshakes answered (sessions established by peers).",
            c.handshakes,
        ),
        (
            "handshakes_initiated",
            "Handshakes started by drawbridge (rekeys, retries).",
            c.handshakes_initiated,
        ),
        (
            "cookie_replies",
            "Cookie replies sent under handshake load.",
            c.cookie_replies,
        ),
        (
            "sessions_created",
            "Peer sessions created.",
            c.sessions_created,
        ),
        (
            "sessions_expired",
            "Peer sessions expired.",
            c.sessions_expired,
        ),
        (
            "delivered",
            "UDP datagrams delivered to inner services.",
            c.delivered,
        ),
        ("echo_replies", "ICMP echo replies sent.", c.echo_replies),
        (
            "sent",
            "UDP datagrams sent into the tunnel by services.",
            c.sent,
        ),
        (
            "timer_transmits",
            "Keepalives and other timer-driven datagrams.",
            c.timer_transmits,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(out, "# HELP drawbridge_wireguard_{name}_total {help}");
        let _ = writeln!(out, "# TYPE drawbridge_wireguard_{name}_total counter");
        let _ = writeln!(out, "drawbridge_wireguard_{name}_total {value}");
    }
    let _ = writeln!(
        out,
        "# HELP drawbridge_wireguard_drops_total Datagrams and inner packets dropped, by reason."
    );
    let _ = writeln!(out, "# TYPE drawbridge_wireguard_drops_total counter");
    for reason in ALL_REASONS {
        let _ = writeln!(
            out,
            "drawbridge_wireguard_drops_total{{reason=\"{}\"}} {}",
            reason.as_str(),
            c.drops.get(reason)
        );
    }
    let s = &shared.sockets;
    let _ = writeln!(
        out,
        "# TYPE drawbridge_wireguard_send_failures_total counter"
    );
    let _ = writeln!(
        out,
        "drawbridge_wireguard_send_failures_total {}",
        s.send_failures
    );
    let _ = writeln!(
        out,
        "# TYPE drawbridge_wireguard_service_overflow_total counter"
    );
    let _ = writeln!(
        out,
        "drawbridge_wireguard_service_overflow_total {}",
        s.service_overflow
    );
    let _ = writeln!(out, "# TYPE drawbridge_wireguard_peers gauge");
    let _ = writeln!(
        out,
        "drawbridge_wireguard_peers {}",
        shared.server.peer_count()
    );
    let _ = writeln!(out, "# TYPE drawbridge_wireguard_live_sessions gauge");
    let _ = writeln!(
        out,
        "drawbridge_wireguard_live_sessions {}",
        shared.server.live_sessions()
    );
}
