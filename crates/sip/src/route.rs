//! A cheap scan for the values that decide which worker owns a message — the top Via
//! branch and the Call-ID — and whether it starts new work (a request outside any
//! dialog), without parsing it. Runs on the receive path of every message,
//! before any worker sees it, so it must cost a fraction of a parse and never fail: what
//! it cannot find it reports as absent, and the parse in the worker judges the message.

use crate::normalize::is_token_byte;

/// The routing facts of one message, borrowed from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RouteKey<'a> {
    /// Whether the start line is a status line (`SIP/2.0 200 OK`).
    pub response: bool,
    /// The `branch` parameter of the first Via value, if there is one.
    pub top_branch: Option<&'a [u8]>,
    /// The Call-ID header's value, trimmed.
    pub call_id: Option<&'a [u8]>,
    /// A request's method (the start line's first token); `None` for a response.
    pub method: Option<&'a [u8]>,
    /// Whether the To header carries a `tag` parameter (the request is inside a dialog).
    pub to_tag: bool,
}

impl RouteKey<'_> {
    /// Whether this is a request that would start new work: outside any dialog (no To
    /// tag) and neither ACK nor CANCEL, which belong to a transaction already under way.
    /// What an overloaded SBC sheds first, so calls in progress can finish.
    pub fn starts_new_work(&self) -> bool {
        match self.method {
            Some(m) => !self.to_tag && m != b"ACK" && m != b"CANCEL",
            None => false,
        }
    }
}

/// Scans the start line and headers of `bytes` (stopping at the blank line, or once both
/// values are found) for the top Via branch and the Call-ID. Compact names (`v`, `i`) and
/// any letter case are recognised; folded continuation lines are skipped.
pub fn route_key(bytes: &[u8]) -> RouteKey<'_> {
    let mut key = RouteKey::default();
    let mut lines = bytes.split(|b| *b == b'\n');
    let Some(start) = lines.next() else {
        return key;
    };
    key.response = start.starts_with(b"SIP/");
    if !key.response {
        key.method = start
            .split(|b| *b == b' ')
            .next()
            .filter(|m| !m.is_empty() && m.iter().all(|b| is_token_byte(*b)));
    }
    let (mut seen_via, mut seen_to) = (false, false);
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            continue;
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        let value = line[colon + 1..].trim_ascii();
        if !seen_via && (name.eq_ignore_ascii_case(b"via") || name.eq_ignore_ascii_case(b"v")) {
            seen_via = true;
            key.top_branch = branch_of(value);
        } else if key.call_id.is_none()
            && (name.eq_ignore_ascii_case(b"call-id") || name.eq_ignore_ascii_case(b"i"))
        {
            key.call_id = Some(value).filter(|v| !v.is_empty());
        } else if !seen_to && (name.eq_ignore_ascii_case(b"to") || name.eq_ignore_ascii_case(b"t"))
        {
            seen_to = true;
            key.to_tag = has_tag(value);
        }
        if seen_via && seen_to && key.call_id.is_some() {
            break;
        }
    }
    key
}

/// The `branch` parameter of the first value of a Via header line.
fn branch_of(via: &[u8]) -> Option<&[u8]> {
    let first = via.split(|b| *b == b',').next()?;
    first.split(|b| *b == b';').skip(1).find_map(|param| {
        let (name, value) = match param.iter().position(|b| *b == b'=') {
            Some(eq) => (param[..eq].trim_ascii(), param[eq + 1..].trim_ascii()),
            None => (param.trim_ascii(), &b""[..]),
        };
        (name.eq_ignore_ascii_case(b"branch") && !value.is_empty()).then_some(value)
    })
}

/// Whether a To/From value has a `tag` parameter: one after the `>` of a name-addr, or
/// after the URI of an addr-spec (where `;` parameters belong to the header anyway).
fn has_tag(value: &[u8]) -> bool {
    let params = match value.iter().rposition(|b| *b == b'>') {
        Some(gt) => &value[gt + 1..],
        None => value,
    };
    params.split(|b| *b == b';').skip(1).any(|p| {
        let name = p
            .split(|b| *b == b'=')
            .next()
            .map_or(&b""[..], <[u8]>::trim_ascii);
        name.eq_ignore_ascii_case(b"tag")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_branch_and_call_id_of_a_request() {
        let m = b"INVITE sip:1@x SIP/2.0\r\nVia: SIP/2.0/UDP h;rport;branch=z9hG4bKabc\r\n\
                  Via: SIP/2.0/UDP other;branch=z9hG4bKzzz\r\nCall-ID:  c1@h \r\n\r\nbody";
        let k = route_key(m);
        assert!(!k.response);
        assert_eq!(k.top_branch, Some(&b"z9hG4bKabc"[..]));
        assert_eq!(k.call_id, Some(&b"c1@h"[..]));
    }

    #[test]
    fn compact_names_case_bare_lf_and_multi_value_via() {
        let m = b"SIP/2.0 200 OK\nv: SIP/2.0/UDP a ; BRANCH = z9hG4bK1 ,SIP/2.0/UDP b;branch=z9hG4bK2\n\
                  I: xyz\n\n";
        let k = route_key(m);
        assert!(k.response);
        assert_eq!(k.top_branch, Some(&b"z9hG4bK1"[..]));
        assert_eq!(k.call_id, Some(&b"xyz"[..]));
    }

    #[test]
    fn headers_in_the_body_do_not_count_and_garbage_yields_nothing() {
        let m = b"BYE sip:x SIP/2.0\r\nFrom: <sip:a@b>\r\n\r\nCall-ID: body\r\nTo: <sip:x>;tag=b\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKbody\r\n";
        let k = route_key(m);
        assert_eq!((k.top_branch, k.call_id, k.to_tag), (None, None, false));
        assert_eq!(route_key(b""), RouteKey::default());
        assert_eq!(route_key(b"\xff\xfe:\n:\n\t:"), RouteKey::default());
        // A Via without a branch (RFC 2543 peers) has none; the Call-ID is still found.
        let k = route_key(b"ACK sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\ni: q\r\n");
        assert_eq!((k.top_branch, k.call_id), (None, Some(&b"q"[..])));
    }

    #[test]
    fn new_work_is_a_request_outside_a_dialog_other_than_ack_and_cancel() {
        let req = |method: &str, to: &str| {
            format!(
                "{method} sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: {to}\r\nCall-ID: c\r\n\r\n"
            )
        };
        let new = |m: &str, to: &str| route_key(req(m, to).as_bytes()).starts_new_work();
        assert!(new("INVITE", "<sip:1@x>"));
        assert!(new("OPTIONS", "sip:1@x"));
        assert!(
            new("INVITE", "\"a;tag=x\" <sip:1@x;tag=uri-param>"),
            "tags inside <> or quotes do not count"
        );
        assert!(!new("INVITE", "<sip:1@x>;tag=abc"), "re-INVITE");
        assert!(!new("BYE", "<sip:1@x> ; TAG = abc"));
        assert!(!new("ACK", "<sip:1@x>"));
        assert!(!new("CANCEL", "<sip:1@x>"));
        let k = route_key(b"SIP/2.0 503 Busy\r\nt: <sip:1@x>\r\n\r\n");
        assert!(!k.starts_new_work() && k.method.is_none());
        let k = route_key(b"INVITE sip:x SIP/2.0\r\nt: sip:1@x;tag=q\r\n\r\n");
        assert_eq!((k.method, k.to_tag), (Some(&b"INVITE"[..]), true));
    }

    #[test]
    fn a_folded_line_is_skipped_not_mistaken_for_a_header() {
        let m = b"OPTIONS sip:x SIP/2.0\r\nSubject: a\r\n Call-ID: fake\r\nCall-ID: real\r\n\r\n";
        assert_eq!(route_key(m).call_id, Some(&b"real"[..]));
    }
}
