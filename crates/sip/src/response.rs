//! [`response_to`]: a stateless response to a parsed request.

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
    for h in request.headers().iter() {
        if matches!(h, Header::Via(_)) {
            headers.push(h.clone());
        }
    }
    for h in request.headers().iter() {
        match h {
            Header::From(_) | Header::CallId(_) | Header::CSeq(_) => headers.push(h.clone()),
            Header::To(to) => {
                let value = to.to_string();
                let value = value.split_once(':').map_or("", |(_, v)| v.trim());
                match to_tag {
                    Some(tag) if !has_tag_param(value) => {
                        headers.push(Header::To(To::new(format!("{value};tag={tag}"))));
                    }
                    _ => headers.push(h.clone()),
                }
            }
            _ => {}
        }
    }
    headers.push(Header::ContentLength(ContentLength::from(0u32)));
    let reason: String = reason.chars().filter(|c| !c.is_control()).collect();
    Response {
        status_code: StatusCode::Other(code, reason),
        version: rsip::Version::V2,
        headers: Headers::from(headers),
        body: Vec::new(),
    }
}
