//! Transaction keys: how a message finds its transaction (RFC 3261 §17.1.3, §17.2.3).

use drawbridge_sip::fields::{name_addr_param, via_param, via_sent_by};
use rsip::headers::ToTypedHeader as _;
use rsip::{Header, Method, Request, Response};

use crate::error::MessageError;

/// The RFC 3261 branch prefix; a branch without it comes from an RFC 2543 element.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// A method, hashable (rsip's `Method` is not `Hash`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct MethodKey(u8);

impl From<Method> for MethodKey {
    fn from(m: Method) -> Self {
        // Fieldless enum: the discriminant identifies the method.
        Self(m as u8)
    }
}

/// Key of a server transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ServerKey {
    /// §17.2.3: branch (with the magic cookie) + sent-by of the top Via + method
    /// (ACK is looked up as INVITE).
    Rfc3261 {
        branch: Box<str>,
        sent_by: Box<str>,
        method: MethodKey,
    },
    /// §17.2.3's fallback for RFC 2543 requests: Request-URI, Call-ID, From tag, CSeq
    /// number, the whole top Via, and the method. The To tag is left out so the ACK for a
    /// non-2xx (which carries the tag our response added) finds its INVITE.
    Rfc2543 {
        request_uri: Box<str>,
        call_id: Box<str>,
        from_tag: Box<str>,
        cseq: u32,
        top_via: Box<str>,
        method: MethodKey,
    },
}

/// Key of a client transaction (§17.1.3): our branch + the CSeq method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey {
    pub(crate) branch: Box<str>,
    pub(crate) method: MethodKey,
}

/// The top Via of a message: its branch (if any) and its sent-by, read from the text
/// (see `drawbridge_sip::fields`; messages reach the layer through `parse_message`,
/// which checked that the top Via parses).
pub(crate) struct TopVia<'a> {
    branch: Option<&'a str>,
    sent_by: &'a str,
}

pub(crate) fn top_via(headers: &rsip::Headers) -> Result<TopVia<'_>, MessageError> {
    use rsip::headers::UntypedHeader as _;
    let via = headers
        .iter()
        .find_map(|h| match h {
            Header::Via(v) => Some(v.value()),
            _ => None,
        })
        .ok_or(MessageError::MissingHeader("Via"))?;
    let sent_by = via_sent_by(via).ok_or(MessageError::BadHeader("Via"))?;
    Ok(TopVia {
        branch: via_param(via, "branch").filter(|b| !b.is_empty()),
        sent_by,
    })
}

fn cseq(headers: &rsip::Headers) -> Result<rsip::typed::CSeq, MessageError> {
    headers
        .iter()
        .find_map(|h| match h {
            Header::CSeq(c) => Some(c),
            _ => None,
        })
        .ok_or(MessageError::MissingHeader("CSeq"))?
        .typed()
        .map_err(|_| MessageError::BadHeader("CSeq"))
}

/// The branch of a Via if it carries the RFC 3261 magic cookie.
fn rfc3261_branch<'a>(via: &TopVia<'a>) -> Option<&'a str> {
    via.branch
        .filter(|b| b.starts_with(MAGIC_COOKIE) && b.len() > MAGIC_COOKIE.len())
}

/// The server key of `request`, as if its method were `method` (ACK and CANCEL look up
/// their INVITE this way).
pub(crate) fn server_key(request: &Request, method: Method) -> Result<ServerKey, MessageError> {
    use rsip::headers::UntypedHeader as _;
    let via = top_via(&request.headers)?;
    if let Some(branch) = rfc3261_branch(&via) {
        let sent_by = via.sent_by.to_ascii_lowercase();
        return Ok(ServerKey::Rfc3261 {
            branch: branch.into(),
            sent_by: sent_by.into(),
            method: method.into(),
        });
    }
    let mut call_id = None;
    let mut from_tag = None;
    let mut top_via = None;
    for h in request.headers.iter() {
        match h {
            Header::CallId(c) if call_id.is_none() => call_id = Some(c.value().trim()),
            Header::From(f) if from_tag.is_none() => {
                from_tag = Some(name_addr_param(f.value(), "tag").unwrap_or_default());
            }
            Header::Via(v) if top_via.is_none() => top_via = Some(v.value().trim()),
            _ => {}
        }
    }
    Ok(ServerKey::Rfc2543 {
        request_uri: request.uri.to_string().into(),
        call_id: call_id
            .ok_or(MessageError::MissingHeader("Call-ID"))?
            .into(),
        from_tag: from_tag.ok_or(MessageError::MissingHeader("From"))?.into(),
        cseq: cseq(&request.headers)?.seq,
        top_via: top_via.unwrap_or_default().into(),
        method: method.into(),
    })
}

/// The client key of a request we send: it must carry a magic-cookie branch.
pub(crate) fn client_key_of_request(request: &Request) -> Result<ClientKey, MessageError> {
    let via = top_via(&request.headers)?;
    let branch = rfc3261_branch(&via).ok_or(MessageError::NoRfc3261Branch)?;
    Ok(ClientKey {
        branch: branch.into(),
        method: request.method.into(),
    })
}

/// The client key a response is matched with (§17.1.3): top Via branch + CSeq method.
pub(crate) fn client_key_of_response(response: &Response) -> Result<ClientKey, MessageError> {
    let via = top_via(&response.headers)?;
    let branch = via.branch.ok_or(MessageError::NoRfc3261Branch)?;
    Ok(ClientKey {
        branch: branch.into(),
        method: cseq(&response.headers)?.method.into(),
    })
}
