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
        let _ = write!(out, "{} {} {}\r\n", self.method, self.uri, self.version);
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
        let _ = write!(out, "{} {}\r\n", self.version, self.status_code);
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

/// The header's name as rsip writes it (`Via`, `Call-ID`, or an extension's own spelling).
pub fn header_name(h: &Header) -> String {
    with_name(h, str::to_owned)
}

/// Runs `f` on the header's name without allocating: rsip only writes a typed header's
/// name as the start of its `Display`, so the output is taken up to the first `:` into a
/// small buffer and the formatting stopped there.
fn with_name<R>(h: &Header, f: impl FnOnce(&str) -> R) -> R {
    match h {
        Header::Other(name, _) => f(name),
        other => {
            let mut sink = NameSink::default();
            let _ = std::fmt::write(&mut sink, format_args!("{other}"));
            f(sink.name().trim())
        }
    }
}

/// Collects what is written up to the first `:`, then refuses more (which ends the
/// formatting early). rsip's own header names are all far shorter than the buffer.
#[derive(Default)]
struct NameSink {
    buf: [u8; 32],
    len: usize,
}

impl NameSink {
    fn name(&self) -> &str {
        // Only whole `&str` pieces up to a `:` (ASCII) are copied in, so this is UTF-8.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl std::fmt::Write for NameSink {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let (piece, done) = match s.find(':') {
            Some(i) => (&s[..i], true),
            None => (s, false),
        };
        let end = self.len + piece.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(piece.as_bytes());
        self.len = end;
        if done { Err(std::fmt::Error) } else { Ok(()) }
    }
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
            let _ = write!(out, "Content-Length: {}\r\n", body.len());
            continue;
        }
        // Each header is formatted straight into the buffer (writing to a Vec cannot
        // fail): one allocation per message instead of one String per header.
        let _ = write!(out, "{h}\r\n");
    }
    if !wrote_len {
        let _ = write!(out, "Content-Length: {}\r\n", body.len());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
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
}
