//! [`response_to`]: a stateless response to a parsed request.

use std::borrow::Cow;

use rsip::headers::UntypedHeader as _;
use rsip::headers::{ContentLength, To};
use rsip::prelude::HasHeaders as _;
use rsip::{Header, Headers, Request, Response, StatusCode};

use crate::peek::has_tag_param;

/// Builds a response to `request` with the status line `code reason` (RFC 3261 §8.2.6):
/// all Via values in order, From, To (with `;tag=to_tag` appended when given and the To
/// has no tag yet), Call-ID, CSeq, `Content-Length: 0`, no body.
///
/// The status is `StatusCode::Other(code, reason)` so the wire carries `reason` verbatim
/// (rsip would print `400 BadRequest` for its named variants): compare with `.code()`.
/// Used for 400/403/404/503 answers that need no transaction state; see
/// [`crate::Peek::response`] for requests that did not parse.
pub fn response_to(request: &Request, code: u16, reason: &str, to_tag: Option<&str>) -> Response {
    let mut headers: Vec<Header> = Vec::with_capacity(8);
    for_each_echoed(request, to_tag, |h| headers.push(h.into_owned()));
    headers.push(Header::ContentLength(ContentLength::from(0u32)));
    let reason: String = reason.chars().filter(|c| !c.is_control()).collect();
    Response {
        status_code: StatusCode::Other(code, reason),
        version: rsip::Version::V2,
        headers: Headers::from(headers),
        body: Vec::new(),
    }
}

/// The wire bytes of [`response_to`]`(request, code, reason, to_tag)`, written without
/// building the response: one allocation instead of one per header, for the responses
/// the transaction layer may never send (the 100 Trying it holds for 200 ms).
pub fn response_bytes(request: &Request, code: u16, reason: &str, to_tag: Option<&str>) -> Vec<u8> {
    let mut out = Vec::with_capacity(384);
    out.extend_from_slice(b"SIP/2.0 ");
    crate::edit::push_decimal(&mut out, usize::from(code));
    out.push(b' ');
    let mut utf8 = [0u8; 4];
    for c in reason.chars().filter(|c| !c.is_control()) {
        out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    for_each_echoed(request, to_tag, |h| {
        let (name, value) = crate::edit::header_parts(&h);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    });
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    out
}

/// The headers a response echoes (§8.2.6.2), in the order written: every Via, then From,
/// To (tagged with `to_tag` unless it has a tag), Call-ID and CSeq as they come.
fn for_each_echoed(request: &Request, to_tag: Option<&str>, mut f: impl FnMut(Cow<'_, Header>)) {
    for h in request.headers().iter() {
        if matches!(h, Header::Via(_)) {
            f(Cow::Borrowed(h));
        }
    }
    for h in request.headers().iter() {
        match h {
            Header::From(_) | Header::CallId(_) | Header::CSeq(_) => f(Cow::Borrowed(h)),
            Header::To(to) => match to_tag {
                Some(tag) if !has_tag_param(to.value().trim()) => {
                    let value = to.value().trim();
                    f(Cow::Owned(Header::To(To::new(format!(
                        "{value};tag={tag}"
                    )))));
                }
                _ => f(Cow::Borrowed(h)),
            },
            _ => {}
        }
    }
}
