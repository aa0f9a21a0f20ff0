//! Entry points shared by the cargo-fuzz targets (`fuzz/`) and the stable corpus replay
//! test (`tests/fuzz_corpus.rs`). Each panics only on a broken invariant.

// Panicking on a broken invariant is how a fuzz target reports it.
#![allow(clippy::expect_used)]

use crate::sdp::{MediaPorts, Rewrite, SessionDescription};
use crate::{Frame, Limits, StreamFramer, parse_message, peek, route_key, to_bytes};

/// `parse_message` + `peek` + `route_key` on arbitrary bytes; a parsed message must
/// serialize.
pub fn sip_message(data: &[u8]) {
    let limits = Limits::default();
    let _ = peek(data, &limits);
    let key = route_key(data);
    assert!(
        key.call_id.is_none_or(|c| !c.is_empty()),
        "empty Call-ID found"
    );
    simple_via_agrees_with_rsip(data);
    let parsed = parse_message(data, &limits);
    // Handing rsip the input itself when it is canonical must change nothing.
    assert_eq!(
        parsed,
        crate::parse::parse_copying(data, &limits),
        "verbatim and copying parse differ"
    );
    if let Ok(msg) = parsed {
        let wire = to_bytes(&msg);
        assert!(wire.ends_with(msg.body()), "body not written verbatim");
        cheap_fields_agree_with_rsip(&msg);
    }
}

/// Every line of `data` (after a `Via:` name, if any) that the typed-parse shortcut of
/// `parse_message` takes as a plain Via must parse in rsip, with the same branch.
fn simple_via_agrees_with_rsip(data: &[u8]) {
    use rsip::prelude::{ToTypedHeader as _, UntypedHeader as _};
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        let value = line
            .split_once(':')
            .filter(|(n, _)| n.trim().eq_ignore_ascii_case("via") || n.trim() == "v")
            .map_or(line, |(_, v)| v.trim());
        if let Some(plain) = crate::parse::simple_via(value) {
            let typed = rsip::headers::Via::new(value)
                .typed()
                .expect("a plain Via parses in rsip"); // ok: fuzz oracle
            assert_eq!(
                typed.branch().map(|b| b.value()),
                plain.rsip_branch,
                "branch of {value:?}"
            );
            assert_eq!(
                crate::fields::via_param(value, "branch"),
                plain.text_branch,
                "text branch of {value:?}"
            );
            assert!(crate::fields::via_sent_by(value).is_some(), "{value:?}");
        }
    }
}

/// On a message `parse_message` accepted, the [`crate::fields`] readers find the same
/// From/To tags and top-Via branch as rsip's typed headers.
fn cheap_fields_agree_with_rsip(msg: &rsip::SipMessage) {
    use crate::fields::{name_addr_param, via_param, via_sent_by, without_name_addr_param};
    use rsip::Header;
    use rsip::prelude::{HasHeaders as _, ToTypedHeader as _, UntypedHeader as _};
    let starts_dialog = matches!(msg, rsip::SipMessage::Request(r)
            if !matches!(r.method, rsip::Method::Ack | rsip::Method::Cancel))
        && !msg.headers().iter().any(|h| match h {
            Header::To(t) => name_addr_param(t.value(), "tag").is_some_and(|t| !t.is_empty()),
            _ => false,
        });
    let mut via_seen = false;
    for h in msg.headers().iter() {
        match h {
            Header::Via(v) if !via_seen => {
                via_seen = true;
                let typed = v.typed().expect("parse_message checked the top Via"); // ok: fuzz oracle
                let branch = typed.branch().map(|b| b.value().to_owned());
                assert_eq!(
                    via_param(v.value(), "branch").map(str::to_owned),
                    branch,
                    "branch of {:?}",
                    v.value()
                );
                // The sent-by is used as written (rsip re-spells ports and IPv6 addresses:
                // `:060` → `:60`); a retransmission repeats it byte for byte.
                assert!(
                    via_sent_by(v.value()).is_some(),
                    "sent-by of {:?}",
                    v.value()
                );
            }
            // From and To are checked typed only in requests that may start a dialog, and
            // there the tags must agree with rsip's. In the others (matched by tag) a tag
            // the text reader finds must be rsip's too; the reader may find none where
            // rsip reads one out of a header that is not a valid name-addr (the dialog
            // then does not match: 481), never a different one. An empty tag (`;tag`)
            // is no tag, for the B2BUA (`tag_of`, the transaction keys) as here.
            Header::From(_) | Header::To(_) => {
                let non_empty = |t: Option<String>| t.filter(|t| !t.is_empty());
                let (typed_tag, value) = match h {
                    Header::From(f) => (
                        f.typed()
                            .map(|t| non_empty(t.tag().map(|t| t.value().to_owned()))),
                        f.value(),
                    ),
                    Header::To(t) => (
                        t.typed()
                            .map(|t| non_empty(t.tag().map(|t| t.value().to_owned()))),
                        t.value(),
                    ),
                    _ => continue,
                };
                let ours = non_empty(name_addr_param(value, "tag").map(str::to_owned));
                if starts_dialog {
                    // The B2BUA keeps the caller's and callee's URIs as text without the
                    // tag: rsip must read that text as the same name-addr, minus the tag.
                    let stripped = without_name_addr_param(value, "tag");
                    let again = rsip::headers::From::new(stripped.clone()).typed();
                    let typed = rsip::headers::From::new(value).typed();
                    if let (Ok(mut typed), Ok(again)) = (typed, &again) {
                        // Every parameter named tag goes (rsip reads a valueless one as
                        // an unknown parameter).
                        typed.params.retain(|p| {
                            let text = p.to_string();
                            let name = text.trim_start_matches(';').split('=').next();
                            !name.is_some_and(|n| n.trim().eq_ignore_ascii_case("tag"))
                        });
                        assert_eq!(&typed, again, "{value:?} without its tag: {stripped:?}");
                    } else {
                        assert!(again.is_ok(), "{value:?} without its tag: {stripped:?}");
                    }
                }
                match typed_tag {
                    Err(_) => assert!(!starts_dialog, "parse_message checked {value:?}"),
                    Ok(tag) if starts_dialog || ours.is_some() => {
                        assert_eq!(ours, tag, "tag of {value:?}");
                    }
                    Ok(_) => {}
                }
            }
            _ => {}
        }
    }
}

/// Feeds `data[1..]` through a [`StreamFramer`] in chunks whose sizes derive from
/// `data[0]`; every frame must respect the limits and be exactly what Content-Length says.
pub fn framer(data: &[u8]) {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        max_message_size: 4096,
        ..Limits::default()
    };
    let mut f = StreamFramer::new(limits);
    let mut step = usize::from(seed % 61) + 1;
    let mut rest = stream;
    while !rest.is_empty() {
        let n = step.min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        step = (step * 7 + 3) % 97 + 1;
        if f.feed(chunk).is_err() {
            return;
        }
        loop {
            match f.next_frame() {
                Ok(Some(Frame::Message(m))) => {
                    assert!(m.len() <= limits.max_message_size);
                    let _ = parse_message(&m, &limits);
                }
                Ok(Some(Frame::Ping)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}

/// Strict SDP parse; a parsed SDP must round-trip byte-exactly, and the rewritten text sent
/// on the other leg must parse again and be canonical.
pub fn sdp(data: &[u8]) {
    let Ok(sdp) = SessionDescription::parse(data) else {
        return;
    };
    let text = sdp.to_string();
    let again = SessionDescription::parse(text.as_bytes()).expect("own output parses"); // ok: fuzz oracle, a panic is the finding
    assert_eq!(again.to_string(), text, "re-serialisation not byte-exact");
    let _ = sdp.media_info();
    let ports: Vec<MediaPorts> = (0..sdp.media.len())
        .map(|i| MediaPorts {
            rtp: 20000 + 2 * i as u16,
            rtcp: Some(20001 + 2 * i as u16),
        })
        .collect();
    let mut out_text = String::new();
    sdp.rewrite_into(
        &Rewrite {
            address: "203.0.113.9".parse().expect("literal"), // ok: constant
            ports: &ports,
            username: "-",
            sess_id: 1,
            sess_version: 1,
        },
        &mut out_text,
    )
    .expect("port count matches"); // ok: fuzz oracle
    // What goes on the wire must parse and be canonical (write(parse(x)) == x).
    let reparsed = SessionDescription::parse(out_text.as_bytes()).expect("rewrite parses"); // ok: fuzz oracle
    assert_eq!(reparsed.to_string(), out_text);
}
