//! Cheap reads of the header fields the B2BUA looks at in every message — the `tag` of
//! From/To, the branch and sent-by of a Via — straight from the header text.
//!
//! rsip's typed headers re-parse a value from scratch every time one is asked for (a full
//! URI parse to get a tag), and the B2BUA asks several times per message. These functions
//! only find the parameter. They are meant for values that already passed
//! [`crate::parse_message`], whose typed checks prove that the top Via, From and To parse;
//! on such values they return what rsip's typed form would. On anything else they return
//! *something* without panicking, which the caller must not trust more than the input.

/// A header parameter of a From/To/Contact-style value (`"Name" <uri;p>;tag=x`): the
/// value of the first parameter called `name` (case-insensitive) after the URI, `Some("")`
/// for a parameter without value, `None` if it is absent.
///
/// Without angle brackets (addr-spec form), every `;` parameter is a header parameter
/// (RFC 3261 §20.10: a URI with parameters must be bracketed).
#[must_use]
pub fn name_addr_param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    name_addr_param_raw(value, name).map(|v| &v[..value_end(v)])
}

/// Whether the header parameter `name` of a From/To-style value, if present, is read
/// whole by [`name_addr_param`]: its value is a quoted string or a run of the characters
/// a value may hold, up to the end of the parameter. A value with anything else
/// (`tag=192ȿ03548`) is cut by [`name_addr_param`] (`192`) but read whole by rsip's
/// typed parse: the two halves of the stack would disagree about a dialog's tag.
#[must_use]
pub fn name_addr_param_is_whole(value: &str, name: &str) -> bool {
    name_addr_param_raw(value, name).is_none_or(|v| value_end(v) == v.len())
}

/// Whether the text reader and rsip's typed parse read the `tag` of a From/To value the
/// same way: the tag, if any, is whole ([`name_addr_param_is_whole`]), and a value without
/// angle brackets is a bare URI up to its parameters (`sip:b@h S;tag=1` is neither a
/// name-addr nor an addr-spec: the reader finds tag `1`, rsip none), a display name is one
/// quoted string or bare tokens, and there is at most one tag parameter.
#[must_use]
pub fn name_addr_tag_is_unambiguous(value: &str) -> bool {
    let value = value.trim();
    match value.find('<') {
        None => {
            let end = value.find([';', '?']).unwrap_or(value.len());
            if value[..end].contains([' ', '\t', '"']) {
                return false;
            }
        }
        // RFC 3261 §25.1 display-name: one quoted-string, or tokens without quotes.
        // Quoted and bare parts mixed (`"A: "B" <sip:x>…"`) are cut by the reader after
        // the first quoted part and by rsip after the last: they see different URIs.
        Some(_) if value.starts_with('"') => {
            if !skip_display_name(value).trim_start().starts_with('<') {
                return false;
            }
        }
        Some(open) => {
            if value[..open].contains('"') {
                return false;
            }
        }
    }
    // The reader takes the first tag, rsip the last one with a value: one tag only, and
    // that one whole. One walk over the parameters (this runs for every From and To).
    let mut tags = name_addr_params(value)
        .into_iter()
        .flat_map(params_of)
        .filter(|(n, _)| n.eq_ignore_ascii_case("tag"));
    let first = tags.next();
    tags.next().is_none() && first.is_none_or(|(_, v)| value_end(v) == v.len())
}

/// The trimmed text of the parameter `name`'s value (after `=`), not yet cut to what a
/// value may hold.
fn name_addr_param_raw<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    find_param_raw(name_addr_params(value)?, name)
}

/// The header parameters of a From/To/Contact-style value (`;p1=v1;p2` after the URI).
fn name_addr_params(value: &str) -> Option<&str> {
    let rest = skip_display_name(value.trim_start());
    let params = match rest.find('<') {
        Some(open) => {
            let close = open + rest[open..].find('>')?;
            &rest[close + 1..]
        }
        None => {
            // A `?` starts URI headers, which run to the end (rsip reads it so; a URI
            // with headers must be bracketed anyway).
            let end = rest.find('?').unwrap_or(rest.len());
            &rest[rest[..end].find(';')?..end]
        }
    };
    Some(params)
}

/// The value with every header parameter called `name` (case-insensitive) removed, as
/// [`name_addr_param`] finds them; everything else exactly as it came (`"Name" <uri;p>;x`
/// from `"Name" <uri;p>;tag=1;x`).
#[must_use]
pub fn without_name_addr_param(value: &str, name: &str) -> String {
    let value = value.trim();
    let rest = skip_display_name(value);
    let head_len = value.len() - rest.len();
    let params_at = match rest.find('<') {
        Some(open) => rest[open..].find('>').map(|close| open + close + 1),
        None => {
            let end = rest.find('?').unwrap_or(rest.len());
            rest[..end].find(';')
        }
    };
    let Some(params_at) = params_at.map(|p| head_len + p) else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(value.len());
    out.push_str(value[..params_at].trim_end());
    let mut params = &value[params_at..];
    while let Some(rest) = params.trim_start().strip_prefix(';') {
        let end = param_end(rest);
        let param = rest[..end].trim();
        let n = param.split_once('=').map_or(param, |(n, _)| n);
        if !n.trim().eq_ignore_ascii_case(name) {
            out.push(';');
            out.push_str(param);
        }
        params = &rest[end..];
    }
    out
}

/// The Via parameter `name` (case-insensitive), as [`name_addr_param`].
#[must_use]
pub fn via_param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let value = value.trim();
    find_param(&value[value.find(';')?..], name)
}

/// The sent-by (`host[:port]`) of a Via value: `SIP/2.0/UDP 198.51.100.1:5060;branch=…`
/// gives `198.51.100.1:5060`.
#[must_use]
pub fn via_sent_by(value: &str) -> Option<&str> {
    let value = value.trim();
    let end = value.find(';').unwrap_or(value.len());
    let head = value[..end].trim_end();
    let sent_by = head.rsplit([' ', '\t']).next()?.trim();
    (!sent_by.is_empty() && sent_by.len() < head.len()).then_some(sent_by)
}

/// The value without a leading quoted display name (token display names are left: the
/// URI's `<` still comes after them).
fn skip_display_name(value: &str) -> &str {
    let Some(rest) = value.strip_prefix('"') else {
        return value;
    };
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return &rest[i + 1..],
            _ => {}
        }
    }
    ""
}

/// Finds `name` in a `;p1=v1;p2;p3="v;3"` list (quoted values may hold `;`).
fn find_param<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    find_param_raw(params, name).map(|v| &v[..value_end(v)])
}

/// As [`find_param`], the value's whole trimmed text (not cut by [`value_end`]).
fn find_param_raw<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    params_of(params)
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The `(name, value)` pairs of a `;p1=v1;p2;p3="v;3"` list, trimmed (`""` for a
/// parameter without value); stops at the first text that is not a parameter.
fn params_of(mut params: &str) -> impl Iterator<Item = (&str, &str)> {
    std::iter::from_fn(move || {
        let rest = params.trim_start().strip_prefix(';')?;
        let end = param_end(rest);
        let param = rest[..end].trim();
        params = &rest[end..];
        let (n, v) = param.split_once('=').unwrap_or((param, ""));
        Some((n.trim(), v.trim()))
    })
}

/// Where a parameter value ends, as rsip reads one (vendor/rsip patch 5): a quoted
/// string up to its closing quote, or a run of token characters and `[ ] : / & $ ( )`.
/// The rest of a malformed parameter is ignored.
fn value_end(v: &str) -> usize {
    // By bytes: every delimiter is ASCII, and no byte of a multi-byte UTF-8 character is,
    // so the positions are those of a walk by chars (an escaped character's continuation
    // bytes match nothing).
    if let Some(rest) = v.strip_prefix('"') {
        let mut escaped = false;
        for (i, b) in rest.bytes().enumerate() {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => return i + 2,
                _ => {}
            }
        }
        return v.len();
    }
    v.bytes()
        .position(|b| {
            !(crate::normalize::is_token_byte(b)
                || matches!(b, b'[' | b']' | b':' | b'/' | b'&' | b'$' | b'(' | b')'))
        })
        .unwrap_or(v.len())
}

/// Where the parameter at the start of `s` ends: the next `;` outside quotes.
fn param_end(s: &str) -> usize {
    let mut quoted = false;
    let mut escaped = false;
    // By bytes, as in `value_end`.
    for (i, b) in s.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b';' if !quoted => return i,
            _ => {}
        }
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_with_a_character_no_tag_may_hold_is_not_whole() {
        let whole = |v| name_addr_param_is_whole(v, "tag");
        assert!(whole("<sip:a@b>;tag=x1;p"));
        assert!(whole("<sip:a@b>;tag=\"q;x\""));
        assert!(whole("<sip:a@b>;tag"));
        assert!(whole("<sip:a@b>"), "no tag at all");
        assert!(!whole("<sip:a@b>;tag=192\u{23f}03548"));
        assert!(!whole("\"A\" <sip:a@b>;tag=ab cd;p"));
        assert!(!whole("<sip:a@b>;tag=x@y"));
        let clear = name_addr_tag_is_unambiguous;
        assert!(clear("sip:a@b;tag=1"));
        assert!(clear("\"A B\" <sip:a@b>;tag=1"));
        assert!(clear("A B <sip:a@b>;tag=1"));
        assert!(!clear("sip:b@h S;tag=1"));
        assert!(!clear("\"A\" sip:a@b;tag=1"));
        assert!(!clear("<sip:a@b>;tag=x@y"));
        assert!(!clear("<sip:a@b>;tag;p;TAG=x"), "two tags");
        assert!(
            !clear("\"A: \"B\" <sip:a@b>x\" <sip:c@d>;tag=1"),
            "quoted and bare"
        );
        assert!(!clear("A \"B\" <sip:a@b>;tag=1"), "bare then quoted");
        assert!(clear("\"A \\\" B\" <sip:a@b>;tag=1"), "an escaped quote");
        assert!(
            clear("<sip:a@b;tag=uri>;tag=x"),
            "a URI parameter is no tag"
        );
        // What the reader returns for such a tag is the cut prefix rsip would not agree on.
        assert_eq!(
            name_addr_param("<sip:a@b>;tag=192\u{23f}03548", "tag"),
            Some("192")
        );
    }

    #[test]
    fn tags_of_name_addr_and_addr_spec_forms() {
        let t = |v| name_addr_param(v, "tag");
        assert_eq!(t("<sip:a@b>;tag=x1"), Some("x1"));
        assert_eq!(
            t("\"A;tag=no <sip:x>\" <sip:a@b;tag=uri>;TAG=x2"),
            Some("x2")
        );
        assert_eq!(t("Alice <sip:a@b;tag=uri-param>"), None);
        assert_eq!(t("sip:a@b;tag=x3;other"), Some("x3"));
        assert_eq!(t("sip:a@b"), None);
        assert_eq!(t("sip:a@b;transport=tcp?x=y;tag=no"), None);
        assert_eq!(t("<sip:a@b>;p=\"q;tag=no\";tag=x4"), Some("x4"));
        assert_eq!(t("<sip:a@b>;tagx=1;tag"), Some(""));
        assert_eq!(t("\"unterminated <sip:a@b>;tag=x"), None);
        assert_eq!(t("<sip:a@b;tag=x"), None);
    }

    #[test]
    fn via_branch_and_sent_by() {
        let v = "SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK1;rport;received=[2001:db8::1]";
        assert_eq!(via_param(v, "branch"), Some("z9hG4bK1"));
        assert_eq!(via_param(v, "rport"), Some(""));
        assert_eq!(via_param(v, "received"), Some("[2001:db8::1]"));
        assert_eq!(via_param(v, "maddr"), None);
        assert_eq!(
            via_param("SIP/2.0/UDP h;branch=z9h:h SIP/2G4bKa1;rport", "branch"),
            Some("z9h:h")
        );
        assert_eq!(
            via_param("SIP/2.0/UDP h;branch=z)hG4bch=z9hG4bK2", "branch"),
            Some("z)hG4bch")
        );
        assert_eq!(
            via_param("SIP/2.0/UDP h;x=\"a;b c\";branch=1", "x"),
            Some("\"a;b c\"")
        );
        assert_eq!(via_sent_by(v), Some("198.51.100.1:5060"));
        assert_eq!(
            via_sent_by("SIP/2.0/TLS [2001:db8::5]:5061;branch=z9hG4bKx"),
            Some("[2001:db8::5]:5061")
        );
        assert_eq!(via_sent_by("SIP/2.0/UDP host"), Some("host"));
        assert_eq!(via_sent_by("garbage"), None);
        assert_eq!(via_param("SIP/2.0/UDP h", "branch"), None);
    }

    #[test]
    fn a_tag_is_removed_and_nothing_else_changes() {
        let cases = [
            (
                "\"Alice ;tag=x <y>\" <sip:a@h;tag=uri>;tag=1;x=\"q;tag=2\"",
                "\"Alice ;tag=x <y>\" <sip:a@h;tag=uri>;x=\"q;tag=2\"",
            ),
            ("<sip:a@h>;TAG=1;tag=2", "<sip:a@h>"),
            ("sip:a@h;tag=1;lr", "sip:a@h;lr"),
            ("<sip:a@h>;tag", "<sip:a@h>"),
            ("  Bob <sip:b@h>  ", "Bob <sip:b@h>"),
            ("<sip:a@h> ; x = 1 ; tag = 9", "<sip:a@h>;x = 1"),
            ("sip:a@h?subject=x;tag=1", "sip:a@h?subject=x;tag=1"),
        ];
        for (value, expected) in cases {
            assert_eq!(without_name_addr_param(value, "tag"), expected, "{value}");
        }
    }
}
