//! What crosses from one leg to the other: the allow-list filter, identities, reason
//! phrases, and small header readers.

use drawbridge_sip::fields::{self, name_addr_param, via_param};
use rsip::headers::ToTypedHeader as _;
use rsip::headers::UntypedHeader as _;
use rsip::{Header, Headers};

use crate::B2buaConfig;

/// Methods drawbridge relays inside a call; `Allow` is cut down to these.
pub(crate) const RELAYED_METHODS: &[&str] = &[
    "INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "UPDATE", "INFO",
];

/// Option tags drawbridge relays end to end (`Supported`/`Require`). `100rel` is not
/// among them: reliable provisionals are terminated per leg (the core PRACKs those of
/// the callee, and sends its own reliable ones to a caller that requires them).
pub(crate) const RELAYED_OPTION_TAGS: &[&str] = &["timer"];

/// Option tags a caller may require that drawbridge implements itself, per leg.
pub(crate) const TERMINATED_OPTION_TAGS: &[&str] = &["100rel"];

/// Bodies other than SDP that may cross unchanged (DTMF over INFO).
pub(crate) const RELAYED_BODY_TYPES: &[&str] = &["application/dtmf-relay", "application/dtmf"];

/// The canonical reason phrase: the other leg's phrase never crosses (it may name a host
/// or product).
pub(crate) fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        420 => "Bad Extension",
        422 => "Session Interval Too Small",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => "Unknown",
    }
}

/// The final status relayed to the caller for the callee's `code`: redirects would carry
/// the other side's Contact, and a challenge is between the callee side and us.
pub(crate) fn map_final(code: u16) -> u16 {
    match code {
        300..=399 => 480,
        401 | 407 => 403,
        // 1xx/2xx never reach here; keep the class of anything else.
        c => c,
    }
}

/// The first header named `name` (case-insensitive), as its value.
pub(crate) fn value_of<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers.iter().find_map(|h| header_value(h, name))
}

fn header_value<'a>(h: &'a Header, name: &str) -> Option<&'a str> {
    let (n, v) = name_value(h)?;
    n.eq_ignore_ascii_case(name).then_some(v)
}

/// A header as (name, value), for the headers the B2BUA reads or copies.
pub(crate) fn name_value(h: &Header) -> Option<(&str, &str)> {
    Some(match h {
        Header::Other(n, v) => (n.as_str(), v.as_str()),
        Header::Allow(v) => ("Allow", v.value()),
        Header::Supported(v) => ("Supported", v.value()),
        Header::Require(v) => ("Require", v.value()),
        Header::Unsupported(v) => ("Unsupported", v.value()),
        Header::Accept(v) => ("Accept", v.value()),
        Header::ContentDisposition(v) => ("Content-Disposition", v.value()),
        Header::RetryAfter(v) => ("Retry-After", v.value()),
        Header::ContentType(v) => ("Content-Type", v.value()),
        Header::Contact(v) => ("Contact", v.value()),
        Header::RecordRoute(v) => ("Record-Route", v.value()),
        Header::CallId(v) => ("Call-ID", v.value()),
        Header::MaxForwards(v) => ("Max-Forwards", v.value()),
        Header::WwwAuthenticate(v) => ("WWW-Authenticate", v.value()),
        Header::ProxyAuthenticate(v) => ("Proxy-Authenticate", v.value()),
        Header::Subject(v) => ("Subject", v.value()),
        Header::Priority(v) => ("Priority", v.value()),
        Header::Event(v) => ("Event", v.value()),
        _ => return None,
    })
}

/// Comma-separated tokens of `value` kept if in `allowed` (case-insensitive).
fn filter_tokens(value: &str, allowed: &[&str]) -> String {
    let mut out = String::with_capacity(value.len());
    for t in value
        .split(',')
        .map(str::trim)
        .filter(|t| allowed.iter().any(|a| a.eq_ignore_ascii_case(t)))
    {
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(t);
    }
    out
}

/// Option tags of a `Require` that drawbridge cannot honour (for 420 + `Unsupported`).
pub(crate) fn unsupported_required(headers: &Headers) -> Vec<String> {
    headers
        .iter()
        .filter_map(|h| header_value(h, "Require"))
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| {
            !t.is_empty()
                && !RELAYED_OPTION_TAGS
                    .iter()
                    .chain(TERMINATED_OPTION_TAGS)
                    .any(|a| a.eq_ignore_ascii_case(t))
        })
        .map(str::to_owned)
        .collect()
}

/// Whether a `Require` header lists option tag `tag`.
pub(crate) fn requires(headers: &Headers, tag: &str) -> bool {
    headers
        .iter()
        .filter_map(|h| header_value(h, "Require"))
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(tag))
}

/// The user part of a SIP URI inside `value` (`"Name" <sip:user@host>;x` or a bare URI),
/// and the display name, if any. Users are restricted to characters a phone number or
/// extension uses, so nothing else hides in them.
pub(crate) fn identity_of(value: &str) -> Option<(Option<String>, String)> {
    let (display, uri) = match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => (value[..a].trim(), &value[a + 1..b]),
        _ => ("", value.split(';').next().unwrap_or("")),
    };
    let uri = rsip::Uri::try_from(uri.trim()).ok()?;
    let user = drawbridge_sip::normalized_user(&uri)?.into_owned();
    if !is_safe_user(&user) {
        return None;
    }
    let display = display.trim_matches('"').trim();
    let display = (!display.is_empty()).then(|| sanitize_display(display));
    Some((display, user))
}

/// Whether a URI user part is a plain number/extension/name.
pub(crate) fn is_safe_user(user: &str) -> bool {
    !user.is_empty()
        && user.len() <= 64
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-_.*#".contains(&b))
}

/// A display name safe to put between quotes.
pub(crate) fn sanitize_display(display: &str) -> String {
    display
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .take(64)
        .collect()
}

/// A configured host as it goes in a SIP URI: an IPv6 literal gets its brackets.
pub(crate) fn uri_host(host: &str) -> std::borrow::Cow<'_, str> {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]").into()
    } else {
        host.into()
    }
}

/// `"display" <sip:user@host>` or `<sip:user@host>` (`host` as [`uri_host`] writes it).
pub(crate) fn name_addr(display: Option<&str>, user: &str, host: &str) -> String {
    let host = uri_host(host);
    let display = display.filter(|d| !d.is_empty());
    let mut out =
        String::with_capacity(display.map_or(0, |d| d.len() + 3) + user.len() + host.len() + 7);
    if let Some(d) = display {
        out.push('"');
        out.push_str(d);
        out.push_str("\" ");
    }
    out.push_str("<sip:");
    out.push_str(user);
    out.push('@');
    out.push_str(&host);
    out.push('>');
    out
}

/// The headers (name, value) of `headers` allowed to cross to a leg whose advertised host
/// is `our_host`, filtered as described on [`crate::DEFAULT_ALLOWED`].
pub(crate) fn crossing_headers(
    config: &B2buaConfig,
    headers: &Headers,
    our_host: &str,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for h in headers.iter() {
        let Some((name, value)) = name_value(h) else {
            continue;
        };
        if !config.allows(name) {
            continue;
        }
        let value = if name.eq_ignore_ascii_case("Allow") {
            filter_tokens(value, RELAYED_METHODS)
        } else if name.eq_ignore_ascii_case("Supported") || name.eq_ignore_ascii_case("Require") {
            filter_tokens(value, RELAYED_OPTION_TAGS)
        } else if name.eq_ignore_ascii_case("P-Asserted-Identity")
            || name.eq_ignore_ascii_case("P-Preferred-Identity")
        {
            match identity_of(value) {
                Some((display, user)) => name_addr(display.as_deref(), &user, our_host),
                None => String::new(),
            }
        } else if value.contains(['\r', '\n']) {
            String::new()
        } else {
            value.to_owned()
        };
        if value.is_empty() {
            continue;
        }
        out.push((name.to_owned(), value));
    }
    out
}

/// The RSeq of a reliable provisional (`Require: 100rel` and a valid `RSeq`,
/// RFC 3262 §7.1), `None` for an unreliable one.
pub(crate) fn reliable_rseq(headers: &Headers) -> Option<u32> {
    if !requires(headers, "100rel") {
        return None;
    }
    value_of(headers, "RSeq")?.trim().parse().ok()
}

/// The `tag` parameter of the From or To header (read from the text: the message passed
/// `parse_message`'s typed checks, see `drawbridge_sip::fields`).
pub(crate) fn tag_of(headers: &Headers, to: bool) -> Option<String> {
    headers.iter().find_map(|h| {
        let value = match h {
            Header::To(t) if to => t.value(),
            Header::From(f) if !to => f.value(),
            _ => return None,
        };
        name_addr_param(value, "tag")
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    })
}

/// The CSeq number.
pub(crate) fn cseq_of(headers: &Headers) -> Option<u32> {
    headers.iter().find_map(|h| match h {
        Header::CSeq(c) => c.typed().ok().map(|c| c.seq),
        _ => None,
    })
}

/// The Call-ID.
pub(crate) fn call_id_of(headers: &Headers) -> Option<&str> {
    headers.iter().find_map(|h| match h {
        Header::CallId(c) => Some(c.value().trim()),
        _ => None,
    })
}

/// The URI of the first Contact, as the peer wrote it (rsip's typed form would re-spell
/// parameters, e.g. `transport=TLS`).
pub(crate) fn contact_uri(headers: &Headers) -> Option<String> {
    headers.iter().find_map(|h| match h {
        Header::Contact(c) => {
            let v = c.value().trim();
            let uri = match (v.find('<'), v.find('>')) {
                (Some(a), Some(b)) if a < b => &v[a + 1..b],
                _ => v.split(';').next().unwrap_or(""),
            };
            let uri = uri.trim();
            // Only a parseable SIP URI is a usable target.
            rsip::Uri::try_from(uri).ok().map(|_| uri.to_owned())
        }
        _ => None,
    })
}

/// Record-Route values in message order.
pub(crate) fn record_routes(headers: &Headers) -> Vec<String> {
    headers
        .iter()
        .filter_map(|h| match h {
            Header::RecordRoute(r) => Some(r.value().trim().to_owned()),
            _ => None,
        })
        .collect()
}

/// The From or To header value without its tag parameter, otherwise as it came (the
/// parser has checked From and To of a dialog-starting request typed).
pub(crate) fn uri_without_tag(headers: &Headers, to: bool) -> Option<String> {
    headers.iter().find_map(|h| match h {
        Header::To(t) if to => Some(fields::without_name_addr_param(t.value(), "tag")),
        Header::From(f) if !to => Some(fields::without_name_addr_param(f.value(), "tag")),
        _ => None,
    })
}

/// Whether the message's body is SDP (by Content-Type).
pub(crate) fn body_is_sdp(headers: &Headers) -> bool {
    value_of(headers, "Content-Type").is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/sdp"))
    })
}

/// The top Via's branch of a message.
pub(crate) fn top_branch(headers: &Headers) -> Option<String> {
    headers.iter().find_map(|h| match h {
        Header::Via(v) => Some(
            via_param(v.value(), "branch")
                .unwrap_or_default()
                .to_owned(),
        ),
        _ => None,
    })
}
