//! Edits that keep a message consistent, and serialization.
//!
//! rsip's `Headers` is a `Vec<Header>` with no insert or remove-by-name and never
//! recomputes Content-Length; these helpers do both, keep header order, and write bodies
//! byte for byte ([`to_bytes`]).

use std::io::Write as _;

use rsip::headers::UntypedHeader as _;
use rsip::headers::{ContentLength, ContentType};
use rsip::message::HasHeaders;
use rsip::{Header, Headers, Request, Response, SipMessage};

/// A SIP message whose body and headers can be edited: rsip's [`Request`], [`Response`]
/// and [`SipMessage`].
pub trait Message: HasHeaders {
    /// The body.
    fn body_bytes(&self) -> &[u8];
    /// The body, mutable. Prefer [`set_body`], which keeps Content-Length right.
    fn body_vec(&mut self) -> &mut Vec<u8>;
    /// Writes the start line with its CRLF.
    fn write_start_line(&self, out: &mut Vec<u8>);
}

impl Message for Request {
    fn body_bytes(&self) -> &[u8] {
        &self.body
    }
    fn body_vec(&mut self) -> &mut Vec<u8> {
        &mut self.body
    }
    fn write_start_line(&self, out: &mut Vec<u8>) {
        // Formatted straight into the buffer: no intermediate String per message.
        out.extend_from_slice(method_str(self.method).as_bytes());
        out.push(b' ');
        let _ = write!(out, "{}", self.uri);
        out.extend_from_slice(b" ");
        out.extend_from_slice(version_str(&self.version).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

impl Message for Response {
    fn body_bytes(&self) -> &[u8] {
        &self.body
    }
    fn body_vec(&mut self) -> &mut Vec<u8> {
        &mut self.body
    }
    fn write_start_line(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(version_str(&self.version).as_bytes());
        out.push(b' ');
        let _ = write!(out, "{}\r\n", self.status_code);
    }
}

impl Message for SipMessage {
    fn body_bytes(&self) -> &[u8] {
        self.body()
    }
    fn body_vec(&mut self) -> &mut Vec<u8> {
        self.body_mut()
    }
    fn write_start_line(&self, out: &mut Vec<u8>) {
        match self {
            Self::Request(r) => r.write_start_line(out),
            Self::Response(r) => r.write_start_line(out),
        }
    }
}

/// The name and value rsip writes for a header (its `Display` is `name: value`), without
/// going through `fmt`: serialising a message is a fifth of the core's formatting work.
/// The match is exhaustive, so a header rsip adds fails to compile here; the names are
/// pinned against rsip's `Display` by a test.
pub(crate) fn header_parts(h: &Header) -> (&str, &str) {
    match h {
        Header::Other(name, value) => (name, value),
        Header::Accept(h) => ("Accept", h.value()),
        Header::AcceptEncoding(h) => ("Accept-Encoding", h.value()),
        Header::AcceptLanguage(h) => ("Accept-Language", h.value()),
        Header::AlertInfo(h) => ("Alert-Info", h.value()),
        Header::Allow(h) => ("Allow", h.value()),
        Header::AuthenticationInfo(h) => ("Authentication-Info", h.value()),
        Header::Authorization(h) => ("Authorization", h.value()),
        Header::CSeq(h) => ("CSeq", h.value()),
        Header::CallId(h) => ("Call-ID", h.value()),
        Header::CallInfo(h) => ("Call-Info", h.value()),
        Header::Contact(h) => ("Contact", h.value()),
        Header::ContentDisposition(h) => ("Content-Disposition", h.value()),
        Header::ContentEncoding(h) => ("Content-Encoding", h.value()),
        Header::ContentLanguage(h) => ("Content-Language", h.value()),
        Header::ContentLength(h) => ("Content-Length", h.value()),
        Header::ContentType(h) => ("Content-Type", h.value()),
        Header::Date(h) => ("Date", h.value()),
        Header::ErrorInfo(h) => ("Error-Info", h.value()),
        Header::Event(h) => ("Event", h.value()),
        Header::Expires(h) => ("Expires", h.value()),
        Header::From(h) => ("From", h.value()),
        Header::InReplyTo(h) => ("In-Reply-To", h.value()),
        Header::MaxForwards(h) => ("Max-Forwards", h.value()),
        Header::MimeVersion(h) => ("Mime-Version", h.value()),
        Header::MinExpires(h) => ("Min-Expires", h.value()),
        Header::Organization(h) => ("Organization", h.value()),
        Header::Priority(h) => ("Priority", h.value()),
        Header::ProxyAuthenticate(h) => ("Proxy-Authenticate", h.value()),
        Header::ProxyAuthorization(h) => ("Proxy-Authorization", h.value()),
        Header::ProxyRequire(h) => ("Proxy-Require", h.value()),
        Header::RecordRoute(h) => ("Record-Route", h.value()),
        Header::ReplyTo(h) => ("Reply-To", h.value()),
        Header::Require(h) => ("Require", h.value()),
        Header::RetryAfter(h) => ("Retry-After", h.value()),
        Header::Route(h) => ("Route", h.value()),
        Header::Server(h) => ("Server", h.value()),
        Header::Subject(h) => ("Subject", h.value()),
        Header::SubscriptionState(h) => ("Subscription-State", h.value()),
        Header::Supported(h) => ("Supported", h.value()),
        Header::Timestamp(h) => ("Timestamp", h.value()),
        Header::To(h) => ("To", h.value()),
        Header::Unsupported(h) => ("Unsupported", h.value()),
        Header::UserAgent(h) => ("User-Agent", h.value()),
        Header::Via(h) => ("Via", h.value()),
        Header::Warning(h) => ("Warning", h.value()),
        Header::WwwAuthenticate(h) => ("WWW-Authenticate", h.value()),
    }
}

/// A method as rsip writes it (its `Display` allocates an upper-cased copy each time).
pub(crate) fn method_str(m: rsip::Method) -> &'static str {
    use rsip::Method;
    match m {
        Method::Ack => "ACK",
        Method::Bye => "BYE",
        Method::Cancel => "CANCEL",
        Method::Info => "INFO",
        Method::Invite => "INVITE",
        Method::Message => "MESSAGE",
        Method::Notify => "NOTIFY",
        Method::Options => "OPTIONS",
        Method::PRack => "PRACK",
        Method::Publish => "PUBLISH",
        Method::Refer => "REFER",
        Method::Register => "REGISTER",
        Method::Subscribe => "SUBSCRIBE",
        Method::Update => "UPDATE",
    }
}

/// The header's name as rsip writes it (`Via`, `Call-ID`, or an extension's own spelling).
pub fn header_name(h: &Header) -> String {
    with_name(h, str::to_owned)
}

/// Runs `f` on the header's name, as rsip writes it.
fn with_name<R>(h: &Header, f: impl FnOnce(&str) -> R) -> R {
    f(header_parts(h).0)
}

fn is_named(h: &Header, name: &str) -> bool {
    let canonical = crate::expand_compact_name(name).unwrap_or(name);
    with_name(h, |n| n.eq_ignore_ascii_case(canonical))
}

fn with_vec<M: HasHeaders + ?Sized, R>(msg: &mut M, f: impl FnOnce(&mut Vec<Header>) -> R) -> R {
    let mut v: Vec<Header> = std::mem::take(msg.headers_mut()).into();
    let r = f(&mut v);
    *msg.headers_mut() = Headers::from(v);
    r
}

/// Replaces the body and makes Content-Length match it (the first Content-Length is updated
/// in place, extra ones removed, one appended if there was none). With `content_type`, sets
/// Content-Type the same way; with `None` and an empty body, removes Content-Type.
pub fn set_body<M: Message + ?Sized>(msg: &mut M, body: Vec<u8>, content_type: Option<&str>) {
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let empty = body.is_empty();
    *msg.body_vec() = body;
    replace_header(msg, Header::ContentLength(ContentLength::from(len)));
    match content_type {
        Some(ct) => replace_header(msg, Header::ContentType(ContentType::new(ct))),
        None if empty => {
            remove_all(msg, "Content-Type");
        }
        None => {}
    }
}

/// Replaces the first header named like `new` (case-insensitive, compact forms understood)
/// in place and removes the others of that name; appends `new` if there was none.
pub fn replace_header<M: HasHeaders + ?Sized>(msg: &mut M, new: Header) {
    let name = header_name(&new);
    with_vec(msg, |v| {
        let mut new = Some(new);
        v.retain_mut(|h| {
            if !is_named(h, &name) {
                return true;
            }
            match new.take() {
                Some(n) => {
                    *h = n;
                    true
                }
                None => false,
            }
        });
        if let Some(n) = new {
            v.push(n);
        }
    });
}

/// Appends a header after all others (before the body).
pub fn append_header<M: HasHeaders + ?Sized>(msg: &mut M, h: Header) {
    msg.headers_mut().push(h);
}

/// Removes every header with this name (case-insensitive; `v` removes Via too). Returns how
/// many were removed.
pub fn remove_all<M: HasHeaders + ?Sized>(msg: &mut M, name: &str) -> usize {
    with_vec(msg, |v| {
        let before = v.len();
        v.retain(|h| !is_named(h, name));
        before - v.len()
    })
}

/// Puts `via` on top: before the first existing Via, or first of all headers if there is none.
pub fn push_via_top<M: HasHeaders + ?Sized>(msg: &mut M, via: rsip::headers::Via) {
    with_vec(msg, |v| {
        let at = v
            .iter()
            .position(|h| matches!(h, Header::Via(_)))
            .unwrap_or(0);
        v.insert(at, Header::Via(via));
    });
}

/// Inserts `h` just before the first header named `before`, or appends it if none is.
pub fn insert_before<M: HasHeaders + ?Sized>(msg: &mut M, before: &str, h: Header) {
    with_vec(msg, |v| {
        let at = v
            .iter()
            .position(|x| is_named(x, before))
            .unwrap_or(v.len());
        v.insert(at, h);
    });
}

/// Serializes `msg` to wire bytes: start line, headers in order, body verbatim. The
/// Content-Length written is always the body's real length (replacing any stale value in
/// place, appended if absent), so a forgotten [`set_body`] cannot desynchronise a stream.
pub fn to_bytes<M: Message + ?Sized>(msg: &M) -> Vec<u8> {
    let body = msg.body_bytes();
    let mut out = Vec::with_capacity(512 + body.len());
    msg.write_start_line(&mut out);
    let mut wrote_len = false;
    for h in msg.headers().iter() {
        if let Header::ContentLength(_) = h {
            if wrote_len {
                continue;
            }
            wrote_len = true;
            write_content_length(&mut out, body.len());
            continue;
        }
        // Each header is copied straight into the buffer: one allocation per message.
        let (name, value) = header_parts(h);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !wrote_len {
        write_content_length(&mut out, body.len());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

fn write_content_length(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(b"Content-Length: ");
    push_decimal(out, len);
    out.extend_from_slice(b"\r\n");
}

/// Appends `n` in decimal (what `write!("{n}")` writes, without `fmt`: itoa).
pub(crate) fn push_decimal(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// A version as rsip writes it.
fn version_str(v: &rsip::Version) -> &'static str {
    match v {
        rsip::Version::V1 => "SIP/1.0",
        rsip::Version::V2 => "SIP/2.0",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The name read without allocating is what rsip writes before the `:`, for every kind
    /// of header a message can hold (typed, untyped, extension, long values).
    #[test]
    fn header_names_match_what_rsip_writes() {
        let long = "x".repeat(300);
        let headers = [
            Header::Via("SIP/2.0/UDP 198.18.0.1:5060;branch=z9hG4bK1".into()),
            Header::CallId("a@b".into()),
            Header::CSeq("1 INVITE".into()),
            Header::ContentLength("0".into()),
            Header::WwwAuthenticate("Digest realm=\"x\", nonce=\"y\"".into()),
            Header::UserAgent(long.clone().into()),
            Header::Other("X-Very-Long-Extension-Header-Name-Over-32".into(), long),
            Header::Other("P-Asserted-Identity".into(), "<sip:1@a>".into()),
        ];
        for h in &headers {
            let text = h.to_string();
            let expected = text.split_once(':').map(|(n, _)| n.trim()).unwrap();
            assert_eq!(header_name(h), expected);
            assert!(is_named(h, expected));
            assert!(is_named(h, &expected.to_ascii_uppercase()));
            assert!(!is_named(h, "Contact"));
        }
        assert!(is_named(&headers[0], "v"), "compact form");
    }

    /// Every variant's name and value, as `to_bytes` writes them, are what rsip's
    /// `Display` writes.
    #[test]
    fn header_parts_match_rsip_display() {
        use rsip::headers::*;
        let v = "x y;z=1";
        let all: Vec<Header> = vec![
            Header::Accept(Accept::new(v)),
            Header::AcceptEncoding(AcceptEncoding::new(v)),
            Header::AcceptLanguage(AcceptLanguage::new(v)),
            Header::AlertInfo(AlertInfo::new(v)),
            Header::Allow(Allow::new(v)),
            Header::AuthenticationInfo(AuthenticationInfo::new(v)),
            Header::Authorization(Authorization::new(v)),
            Header::CSeq(CSeq::new(v)),
            Header::CallId(CallId::new(v)),
            Header::CallInfo(CallInfo::new(v)),
            Header::Contact(Contact::new(v)),
            Header::ContentDisposition(ContentDisposition::new(v)),
            Header::ContentEncoding(ContentEncoding::new(v)),
            Header::ContentLanguage(ContentLanguage::new(v)),
            Header::ContentLength(ContentLength::new(v)),
            Header::ContentType(ContentType::new(v)),
            Header::Date(Date::new(v)),
            Header::ErrorInfo(ErrorInfo::new(v)),
            Header::Event(Event::new(v)),
            Header::Expires(Expires::new(v)),
            Header::From(From::new(v)),
            Header::InReplyTo(InReplyTo::new(v)),
            Header::MaxForwards(MaxForwards::new(v)),
            Header::MimeVersion(MimeVersion::new(v)),
            Header::MinExpires(MinExpires::new(v)),
            Header::Organization(Organization::new(v)),
            Header::Priority(Priority::new(v)),
            Header::ProxyAuthenticate(ProxyAuthenticate::new(v)),
            Header::ProxyAuthorization(ProxyAuthorization::new(v)),
            Header::ProxyRequire(ProxyRequire::new(v)),
            Header::RecordRoute(RecordRoute::new(v)),
            Header::ReplyTo(ReplyTo::new(v)),
            Header::Require(Require::new(v)),
            Header::RetryAfter(RetryAfter::new(v)),
            Header::Route(Route::new(v)),
            Header::Server(Server::new(v)),
            Header::Subject(Subject::new(v)),
            Header::SubscriptionState(SubscriptionState::new(v)),
            Header::Supported(Supported::new(v)),
            Header::Timestamp(Timestamp::new(v)),
            Header::To(To::new(v)),
            Header::Unsupported(Unsupported::new(v)),
            Header::UserAgent(UserAgent::new(v)),
            Header::Via(Via::new(v)),
            Header::Warning(Warning::new(v)),
            Header::WwwAuthenticate(WwwAuthenticate::new(v)),
            Header::Other("X-Ext".into(), v.into()),
        ];
        for h in &all {
            let (name, value) = header_parts(h);
            assert_eq!(format!("{name}: {value}"), h.to_string());
        }
        for m in [
            rsip::Method::Ack,
            rsip::Method::Bye,
            rsip::Method::Cancel,
            rsip::Method::Info,
            rsip::Method::Invite,
            rsip::Method::Message,
            rsip::Method::Notify,
            rsip::Method::Options,
            rsip::Method::PRack,
            rsip::Method::Publish,
            rsip::Method::Refer,
            rsip::Method::Register,
            rsip::Method::Subscribe,
            rsip::Method::Update,
        ] {
            assert_eq!(method_str(m), m.to_string());
        }
        for v in [rsip::Version::V1, rsip::Version::V2] {
            assert_eq!(version_str(&v), v.to_string());
        }
        for n in [0usize, 7, 10, 99, 12345, usize::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }
}
