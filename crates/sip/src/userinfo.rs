//! The userinfo rewrite of the pre-pass, and [`normalized_user`] to read a user part back.
//!
//! rsip 0.4 finds the userinfo of a URI by scanning for `@` but gives up at the first `.`
//! (its tokenizer is `take_till('.' | '@')` then `tag("@")`). A user part that contains a
//! dot is therefore not seen as userinfo at all:
//! - `sip:john.doe@example.com` parses "fine" with no user and the host
//!   `john.doe@example.com` (silently wrong);
//! - `sip:user;par=u%40example.net@example.com` (RFC 3261 allows `;` in the user part) has
//!   its `;par=…@example.com` read as URI parameters and fails: a valid request gets a 400.
//!
//! The pre-pass percent-encodes every `.` of the userinfo of a `sip:`/`sips:` URI as `%2E`,
//! in the Request-URI and in the URIs of From, To, Contact, Route, Record-Route, Reply-To,
//! Refer-To and Referred-By. Nothing else needs it: rsip copes with `;`, `?`, `/`, `&`, `=`,
//! `+`, `$`, `,` and escapes in the user part once the dot is out of the way, so those are
//! left as they are (`;` is a reserved character, escaping it would change the URI).
//!
//! The trade-off: `.` is unreserved, so by RFC 3261 §19.1.4 `john%2Edoe` and `john.doe` are
//! the same URI and a peer comparing correctly sees no difference; but rsip (and whoever
//! reads `uri.auth.user`) sees the escaped spelling, and it is what goes out again if the
//! URI is forwarded unchanged. The B2BUA rewrites URIs towards the other leg anyway; to
//! compare or look up a user, use [`normalized_user`].

use std::borrow::Cow;

/// Characters RFC 3261 §25.1 allows in `userinfo` besides `%` escapes: `unreserved`,
/// `user-unreserved` and the `:` before a password. Anything else means the text before
/// the `@` is not a well-formed userinfo, and it is left alone.
fn is_userinfo_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_'
                | b'.'
                | b'!'
                | b'~'
                | b'*'
                | b'\''
                | b'('
                | b')'
                | b'%'
                | b'&'
                | b'='
                | b'+'
                | b'$'
                | b','
                | b';'
                | b'?'
                | b'/'
                | b':'
        )
}

/// If `uri` is a `sip:`/`sips:` URI whose userinfo contains a `.`, returns the byte range
/// of that userinfo (after the scheme, before the `@`).
fn dotted_userinfo(uri: &str) -> Option<std::ops::Range<usize>> {
    let colon = uri.bytes().position(|b| b == b':')?;
    let scheme = &uri[..colon];
    if !scheme.eq_ignore_ascii_case("sip") && !scheme.eq_ignore_ascii_case("sips") {
        return None;
    }
    // `@` cannot appear unescaped after the userinfo (params and headers exclude it), so
    // the first one ends the userinfo. One pass: a byte outside the userinfo set before
    // it means there is no well-formed userinfo.
    let start = colon + 1;
    let mut dotted = false;
    for (i, b) in uri.bytes().enumerate().skip(start) {
        match b {
            b'@' => return dotted.then_some(start..i),
            b'.' => dotted = true,
            _ if !is_userinfo_byte(b) => return None,
            _ => {}
        }
    }
    None
}

/// Writes `text` into `out` with the dots of `range` escaped.
fn escape_dots(text: &str, range: std::ops::Range<usize>, out: &mut String) {
    out.clear();
    out.reserve(text.len() + 8);
    out.push_str(&text[..range.start]);
    for c in text[range.clone()].chars() {
        if c == '.' {
            out.push_str("%2E");
        } else {
            out.push(c);
        }
    }
    out.push_str(&text[range.end..]);
}

/// Rewrites a Request-URI into `out` if its userinfo needs it; `false` (with `out`
/// unspecified) when `uri` can be used as it is.
pub(crate) fn escape_request_uri(uri: &str, out: &mut String) -> bool {
    match dotted_userinfo(uri) {
        Some(range) => {
            escape_dots(uri, range, out);
            true
        }
        None => false,
    }
}

/// Same for one header value holding a name-addr (`"x" <sip:…>;p`) or an addr-spec
/// (`sip:…;p`). In the addr-spec form the URI ends at the first `;` (RFC 3261 §20: a URI
/// with `;`, `?` or `,` must be in `<>`), so only a userinfo before that is touched.
pub(crate) fn escape_header_uri(value: &str, out: &mut String) -> bool {
    let Some((start, end)) = header_uri(value) else {
        return false;
    };
    match dotted_userinfo(&value[start..end]) {
        Some(r) => {
            escape_dots(value, start + r.start..start + r.end, out);
            true
        }
        None => false,
    }
}

/// Byte range of the URI in a header value: inside the first `<…>` outside a quoted
/// string, else from the start to the first `;`. `None` for an unterminated quote or `<`.
pub(crate) fn header_uri(value: &str) -> Option<(usize, usize)> {
    let mut in_quote = false;
    let mut escaped = false;
    for (i, b) in value.bytes().enumerate() {
        if in_quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quote = false;
            }
            continue;
        }
        match b {
            b'"' => in_quote = true,
            b'<' => {
                let len = value[i + 1..].find('>')?;
                return Some((i + 1, i + 1 + len));
            }
            _ => {}
        }
    }
    if in_quote {
        return None;
    }
    Some((0, value.find(';').unwrap_or(value.len())))
}

/// The user part of `uri` as RFC 3261 §19.1.4 compares it: `%XX` escapes of unreserved
/// characters (letters, digits, `-_.!~*'()`) decoded, every other escape kept as it is.
///
/// Use this, not `uri.auth.user` directly, to look a user up or compare two users: the
/// pre-pass of [`crate::parse_message`] escapes the dots of user parts (`john%2Edoe`)
/// because rsip 0.4 misparses them, and peers may escape any unreserved character.
/// `None` when the URI has no user part.
///
/// For a `tel:` URI (which has no user part; rsip keeps its number where a SIP URI has its
/// host) this is the number without its visual separators `-.()`, as RFC 3966 §4 compares
/// them: `tel:+1-555-0100` gives `+15550100`.
pub fn normalized_user(uri: &rsip::Uri) -> Option<Cow<'_, str>> {
    if uri.scheme == Some(rsip::Scheme::Tel) {
        let number = uri.host_with_port.host.to_string();
        let digits: String = number.chars().filter(|c| !"-.()".contains(*c)).collect();
        return (!digits.is_empty()).then_some(Cow::Owned(digits));
    }
    let user = uri.auth.as_ref()?.user.as_str();
    if !user.contains('%') {
        return Some(Cow::Borrowed(user));
    }
    let bytes = user.as_bytes();
    let mut out = String::with_capacity(user.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = user.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(hex, 16)
            && (v.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&v))
        {
            out.push(char::from(v));
            i += 3;
            continue;
        }
        // ok: i is on a char boundary (we only ever skip whole ASCII escapes or whole chars).
        let c = user[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(c);
        i += c.len_utf8();
    }
    Some(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str) -> String {
        let mut out = String::new();
        if escape_request_uri(uri, &mut out) {
            out
        } else {
            uri.to_owned()
        }
    }

    fn hdr(value: &str) -> String {
        let mut out = String::new();
        if escape_header_uri(value, &mut out) {
            out
        } else {
            value.to_owned()
        }
    }

    #[test]
    fn escapes_dots_in_the_userinfo_only() {
        assert_eq!(
            req("sip:john.doe@example.com;transport=tcp"),
            "sip:john%2Edoe@example.com;transport=tcp"
        );
        assert_eq!(
            req("SIPS:u;par=u%40example.net:pw.1@example.com"),
            "SIPS:u;par=u%40example%2Enet:pw%2E1@example.com"
        );
        // no userinfo, no dot in it, another scheme, or not a well-formed userinfo
        for same in [
            "sip:example.com;maddr=192.0.2.1",
            "sip:alice@example.com",
            "tel:+1.555@x",
            "sip:a b.c@example.com",
            "sip:example.com",
        ] {
            assert_eq!(req(same), same);
        }
    }

    #[test]
    fn finds_the_uri_of_a_header_value() {
        assert_eq!(
            hdr(r#""a.b <sip:x.y@z>" <sip:j.d@example.com;lr>;tag=a.b"#),
            r#""a.b <sip:x.y@z>" <sip:j%2Ed@example.com;lr>;tag=a.b"#
        );
        assert_eq!(
            hdr("sip:j.d@example.com;tag=x.y"),
            "sip:j%2Ed@example.com;tag=x.y"
        );
        // addr-spec form: the URI ends at the first ';', so no userinfo with ';' in it
        assert_eq!(
            hdr("sip:u;x=a.b@example.com;tag=1"),
            "sip:u;x=a.b@example.com;tag=1"
        );
        assert_eq!(hdr("*"), "*");
        assert_eq!(hdr(r#""open <sip:a.b@c>"#), r#""open <sip:a.b@c>"#);
    }

    #[test]
    fn rsip_reads_the_escaped_user_and_normalized_user_decodes_it() {
        let uri =
            rsip::Uri::try_from(req("sip:lane;ext=44;x=u%40ex.net@example.com").as_str()).unwrap();
        assert_eq!(uri.host_with_port.to_string(), "example.com");
        assert_eq!(
            normalized_user(&uri).unwrap(),
            "lane;ext=44;x=u%40ex.net",
            "%40 (reserved '@') stays escaped, %2E is decoded"
        );
        let uri = rsip::Uri::try_from("sip:%61lice%2d%7E%C3%A9@example.com").unwrap();
        assert_eq!(normalized_user(&uri).unwrap(), "alice-~%C3%A9");
        let uri = rsip::Uri::try_from("sip:example.com").unwrap();
        assert!(normalized_user(&uri).is_none());
        let uri = rsip::Uri::try_from("sip:100%@example.com").unwrap();
        assert_eq!(normalized_user(&uri).unwrap(), "100%");
    }
}
