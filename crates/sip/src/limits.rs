//! Size limits applied before and while parsing.

/// Bounds on what the parser and the framer accept from the network.
///
/// Checked before any rsip code runs, so a hostile peer cannot make rsip chew on a 1 MB
/// header (rsip itself has no limits). The defaults suit SIP over UDP/TCP/TLS from phones,
/// PBXs and trunks; a real INVITE with SDP is 1–4 KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest whole message (start line + headers + body), in bytes. Default 16384.
    pub max_message_size: usize,
    /// Most header fields, counted after splitting comma-separated values. Default 100.
    pub max_headers: usize,
    /// Most Via values. Default 32: each proxy adds one, and long but valid requests
    /// (RFC 4475 §3.1.1.7 has one) carry about 30; a loop still hits the limit quickly.
    pub max_via: usize,
    /// Longest physical line (start line or one header line, before unfolding). Default 4096.
    pub max_line_length: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: 16384,
            max_headers: 100,
            max_via: 32,
            max_line_length: 4096,
        }
    }
}
