//! Compact header names (RFC 3261 §7.3.3 and the extensions that define one).

/// Long form of a one-letter compact header name, case-insensitive; `None` if `name` is
/// not a known compact form (longer names are returned as `None` too).
///
/// Covers RFC 3261 (i, m, e, l, c, f, s, k, t, v), RFC 6665 (o, u), RFC 3515 (r),
/// RFC 3892 (b), RFC 4028 (x), RFC 3841 (a, j, d) and RFC 4474 (y, n).
pub fn expand_compact_name(name: &str) -> Option<&'static str> {
    let [c] = name.as_bytes() else {
        return None;
    };
    Some(match c.to_ascii_lowercase() {
        b'i' => "Call-ID",
        b'm' => "Contact",
        b'e' => "Content-Encoding",
        b'l' => "Content-Length",
        b'c' => "Content-Type",
        b'f' => "From",
        b's' => "Subject",
        b'k' => "Supported",
        b't' => "To",
        b'v' => "Via",
        b'o' => "Event",
        b'r' => "Refer-To",
        b'b' => "Referred-By",
        b'u' => "Allow-Events",
        b'x' => "Session-Expires",
        b'a' => "Accept-Contact",
        b'j' => "Reject-Contact",
        b'd' => "Request-Disposition",
        b'y' => "Identity",
        b'n' => "Identity-Info",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::expand_compact_name;

    #[test]
    fn every_compact_form_expands_case_insensitively() {
        let table = [
            ("i", "Call-ID"),
            ("m", "Contact"),
            ("e", "Content-Encoding"),
            ("l", "Content-Length"),
            ("c", "Content-Type"),
            ("f", "From"),
            ("s", "Subject"),
            ("k", "Supported"),
            ("t", "To"),
            ("v", "Via"),
            ("o", "Event"),
            ("r", "Refer-To"),
            ("b", "Referred-By"),
            ("u", "Allow-Events"),
            ("x", "Session-Expires"),
            ("a", "Accept-Contact"),
            ("j", "Reject-Contact"),
            ("d", "Request-Disposition"),
            ("y", "Identity"),
            ("n", "Identity-Info"),
        ];
        for (short, long) in table {
            assert_eq!(expand_compact_name(short), Some(long));
            assert_eq!(expand_compact_name(&short.to_uppercase()), Some(long));
        }
        assert_eq!(expand_compact_name("g"), None);
        assert_eq!(expand_compact_name("Via"), None);
        assert_eq!(expand_compact_name(""), None);
    }
}
