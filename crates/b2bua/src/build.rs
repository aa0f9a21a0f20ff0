//! Requests the transaction layer's rules dictate the shape of.

use rsip::headers::CSeq;
use rsip::headers::ToTypedHeader as _;
use rsip::{Header, Headers, Method, Request};

/// The CANCEL for an INVITE the TU sent (RFC 3261 §9.1): same Request-URI, Call-ID,
/// From, To, CSeq number (method CANCEL), the INVITE's top Via only (same branch, so it
/// reaches the same server transaction downstream), its Route headers and Max-Forwards;
/// no body. Send it with `TransactionLayer::send_request` on the INVITE's flow, and only
/// after a provisional response arrived (§9.1).
pub fn cancel_for(invite: &Request) -> Request {
    same_transaction_request(invite, Method::Cancel)
}

/// A request that travels with `invite`'s branch: ACK for a non-2xx (§17.1.1.3) or CANCEL
/// (§9.1). Both copy the same headers; the ACK's To is replaced by the response's later.
pub(crate) fn same_transaction_request(invite: &Request, method: Method) -> Request {
    let mut headers: Vec<Header> = Vec::with_capacity(8);
    let mut via_seen = false;
    for h in invite.headers.iter() {
        match h {
            Header::Via(_) if !via_seen => {
                via_seen = true;
                headers.push(h.clone());
            }
            Header::From(_)
            | Header::To(_)
            | Header::CallId(_)
            | Header::Route(_)
            | Header::MaxForwards(_) => headers.push(h.clone()),
            Header::CSeq(c) => {
                let seq = c.typed().map_or(0, |c| c.seq);
                headers.push(Header::CSeq(CSeq::from(rsip::typed::CSeq { seq, method })));
            }
            _ => {}
        }
    }
    Request {
        method,
        uri: invite.uri.clone(),
        version: invite.version.clone(),
        headers: Headers::from(headers),
        body: Vec::new(),
    }
}
