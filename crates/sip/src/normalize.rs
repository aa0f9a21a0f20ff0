//! The line scanner of the pre-pass: splits raw bytes into start line, unfolded header
//! fields and body, accepting CRLF or bare-LF line endings and enforcing the line limits.

use std::borrow::Cow;

use crate::{Limits, ParseError};

/// One header field after unfolding; `name` is as received (compact forms not yet expanded).
#[derive(Debug)]
pub(crate) struct Field<'a> {
    pub(crate) name: &'a str,
    pub(crate) value: Cow<'a, str>,
    /// Where the field's line starts in the scanned bytes.
    pub(crate) line_start: usize,
    /// The line is exactly `name: value` (one SP after the colon, no other white space,
    /// not folded): writing the field canonically under this name reproduces it.
    pub(crate) exact: bool,
}

/// A message split into its parts; nothing is validated beyond line structure.
#[derive(Debug)]
pub(crate) struct Scanned<'a> {
    pub(crate) start_line: &'a str,
    pub(crate) fields: Vec<Field<'a>>,
    /// Everything after the empty line (not yet cut to Content-Length).
    pub(crate) body: &'a [u8],
    /// Every line of the header section, the empty one included, ends in CRLF and none
    /// is folded: with exact fields, the input is its own canonical form.
    pub(crate) crlf_unfolded: bool,
}

/// RFC 3261 §25.1 `token` characters (header names, methods).
#[inline]
pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

#[inline]
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

/// Skips the CRLFs (or bare LFs) RFC 3261 §7.5 tells receivers to ignore before a start line.
pub(crate) fn skip_leading_newlines(bytes: &[u8]) -> &[u8] {
    let n = bytes
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(bytes.len());
    &bytes[n..]
}

/// Position just past the empty line ending the header section (`\n\n` or `\n\r\n`), and
/// the position where that empty line starts. `None` if the section is not terminated.
pub(crate) fn find_header_end(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(off) = find_byte(&bytes[i..], b'\n') {
        let nl = i + off;
        let next = nl + 1;
        match bytes.get(next) {
            Some(b'\n') => return Some((next, next + 1)),
            Some(b'\r') if bytes.get(next + 1) == Some(&b'\n') => return Some((next, next + 2)),
            _ => i = next,
        }
    }
    None
}

/// Splits `bytes` (leading newlines already skipped) into start line, fields and body.
pub(crate) fn scan<'a>(bytes: &'a [u8], limits: &Limits) -> Result<Scanned<'a>, ParseError> {
    let (section_end, body_start) = find_header_end(bytes).ok_or_else(|| {
        // Tell an over-long line apart from a missing empty line: the first is a limit.
        if bytes
            .split(|&b| b == b'\n')
            .any(|l| l.len() > limits.max_line_length + 1)
        {
            ParseError::LineTooLong {
                max: limits.max_line_length,
            }
        } else {
            ParseError::UnterminatedHeaders
        }
    })?;
    let section =
        std::str::from_utf8(&bytes[..section_end]).map_err(|_| ParseError::Unparseable {
            reason: "header section is not UTF-8",
        })?;
    let max = limits.max_line_length;
    // The empty line ending the section is CRLF too (not a bare LF).
    let mut crlf_unfolded = body_start - section_end == 2;
    let mut start_line = "";
    let mut fields: Vec<Field<'a>> = Vec::with_capacity(16);
    let mut pos = 0usize;
    let mut first = true;
    while pos < section.len() {
        let line_start = pos;
        let nl = find_byte(&section.as_bytes()[pos..], b'\n').unwrap_or(section.len() - pos);
        pos += nl + 1;
        let mut line = &section[line_start..line_start + nl];
        match line.strip_suffix('\r') {
            Some(l) => line = l,
            None => crlf_unfolded = false,
        }
        if first {
            first = false;
            if line.len() > max {
                return Err(ParseError::LineTooLong { max });
            }
            start_line = line;
            continue;
        }
        if line.is_empty() {
            // Only the final line of the section (find_header_end stops at the first).
            continue;
        }
        if line.len() > max {
            return Err(ParseError::LineTooLong { max });
        }
        // RFC 3261's grammar has no raw control character in a header outside a
        // quoted-pair (`\` + CTL inside a quoted string): NUL and friends only confuse
        // parsers. One cheap scan for any control character first; almost no line has one.
        if has_control(line.as_bytes()) {
            if line.contains('\r') {
                return Err(ParseError::Unparseable {
                    reason: "bare CR in header section",
                });
            }
            if has_raw_control(line.as_bytes()) {
                return Err(ParseError::Unparseable {
                    reason: "control character in header section",
                });
            }
        }
        if line.starts_with([' ', '\t']) {
            // RFC 3261 §7.3.1: a line starting with white space continues the previous
            // field; the fold (CRLF + white space) is equivalent to one SP.
            crlf_unfolded = false;
            let Some(last) = fields.last_mut() else {
                return Err(ParseError::BadStartLine {
                    reason: "white space before first header",
                });
            };
            last.exact = false;
            let cont = line.trim_matches([' ', '\t']);
            if cont.is_empty() {
                continue;
            }
            let v = last.value.to_mut();
            v.truncate(v.trim_end_matches([' ', '\t']).len());
            if !v.is_empty() {
                v.push(' ');
            }
            v.push_str(cont);
            continue;
        }
        if fields.len() >= limits.max_headers {
            return Err(ParseError::TooManyHeaders {
                max: limits.max_headers,
            });
        }
        let Some(colon) = find_byte(line.as_bytes(), b':') else {
            return Err(bad_header(line, "no colon"));
        };
        // HCOLON = *( SP / HTAB ) ":" SWS
        let name = trim_sp_ht_end(&line[..colon]);
        if !is_token(name) {
            return Err(bad_header(name, "name is not a token"));
        }
        let value = trim_sp_ht(&line[colon + 1..]);
        let exact = name.len() == colon
            && line.as_bytes().get(colon + 1) == Some(&b' ')
            && colon + 2 + value.len() == line.len();
        fields.push(Field {
            name,
            value: Cow::Borrowed(value),
            line_start,
            exact,
        });
    }
    Ok(Scanned {
        start_line,
        fields,
        body: &bytes[body_start..],
        crlf_unfolded,
    })
}

/// `s` without leading and trailing SP and HTAB (`trim_matches([' ', '\t'])`, by bytes).
fn trim_sp_ht(s: &str) -> &str {
    let start = s
        .bytes()
        .position(|b| b != b' ' && b != b'\t')
        .unwrap_or(s.len());
    // ok: SP and HTAB are ASCII, so both cuts are on char boundaries.
    trim_sp_ht_end(&s[start..])
}

/// `s` without trailing SP and HTAB.
fn trim_sp_ht_end(s: &str) -> &str {
    let end = s
        .bytes()
        .rposition(|b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    &s[..end]
}

/// The position of the first `needle` in `hay`, eight bytes at a time: in a word, the
/// lowest byte the zero-byte test flags in `word ^ needle * 0x01..` is the first match
/// (the test's false positives only ever sit above a true one).
fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = hay.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let y = u64::from_le_bytes(bytes) ^ (ONES * u64::from(needle));
        let found = y.wrapping_sub(ONES) & !y & HIGH;
        if found != 0 {
            // ok: trailing_zeros < 64, so the quotient is below 8.
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|i| at + i)
}

/// Whether `line` holds a control character (other than HTAB). Eight bytes at a time:
/// a word test that flags every word with a byte below 0x20 or equal to 0x7f (it may
/// also flag some others, never miss one), then the exact test on flagged words only —
/// the common line has none, and HTAB is rare.
fn has_control(line: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = line.chunks_exact(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let x = u64::from_le_bytes(bytes);
        // Some byte < 0x20 (for bytes below 0x80; bytes from 0x80 are never controls).
        let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        // Some byte == 0x7f (a zero byte in x ^ 0x7f7f..).
        let y = x ^ (ONES * 0x7f);
        let del = y.wrapping_sub(ONES) & !y & HIGH;
        if below_space | del != 0 && word.iter().any(|&b| is_control(b)) {
            return true;
        }
    }
    words.remainder().iter().any(|&b| is_control(b))
}

/// A control character other than HTAB.
fn is_control(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// Whether `line` holds a control character (other than HTAB) that no `\\` escapes.
fn has_raw_control(line: &[u8]) -> bool {
    let mut escaped = false;
    for &b in line {
        if is_control(b) && !escaped {
            return true;
        }
        escaped = !escaped && b == b'\\';
    }
    false
}

/// A [`ParseError::BadHeader`] with the name cut to 32 bytes (it is peer-controlled).
pub(crate) fn bad_header(name: &str, reason: &'static str) -> ParseError {
    let mut end = name.len().min(32);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    ParseError::BadHeader {
        name: name[..end].to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfolds_and_accepts_bare_lf() {
        let msg = b"OPTIONS sip:a@b SIP/2.0\nSubject: one\n  two\n\tthree\nX:\n\nbody";
        let s = scan(msg, &Limits::default()).unwrap();
        assert_eq!(s.start_line, "OPTIONS sip:a@b SIP/2.0");
        assert_eq!(s.fields.len(), 2);
        assert_eq!(s.fields[0].value, "one two three");
        assert_eq!(s.fields[1].value, "");
        assert_eq!(s.body, b"body");
    }

    #[test]
    fn byte_helpers_match_the_str_methods() {
        for s in [
            "",
            " ",
            "\t a b \t",
            "a",
            "  x",
            "x  ",
            "\u{e9} ",
            " \t\u{e9}\t",
        ] {
            assert_eq!(trim_sp_ht(s), s.trim_matches([' ', '\t']));
            assert_eq!(trim_sp_ht_end(s), s.trim_end_matches([' ', '\t']));
        }
        let mut line = vec![b'a'; 40];
        assert!(!has_control(&line));
        for at in [0, 15, 16, 31, 32, 39] {
            for c in [0u8, b'\r', 0x1f, 0x7f] {
                line[at] = c;
                assert!(has_control(&line), "{c} at {at}");
                line[at] = b'a';
            }
        }
        line[20] = b'\t';
        assert!(!has_control(&line));
        // find_byte: the first match, before or after other bytes of every value.
        for at in 0..19 {
            for c in 0..=255u8 {
                let mut l = vec![b':'; 19];
                l[at] = c;
                let first = l.iter().position(|&b| b == b'\n');
                assert_eq!(find_byte(&l, b'\n'), first);
                l[(at + 5) % 19] = b'\n';
                let first = l.iter().position(|&b| b == b'\n');
                assert_eq!(find_byte(&l, b'\n'), first, "{c} at {at}");
                assert_eq!(find_byte(&l, c), l.iter().position(|&b| b == c));
            }
        }
        // Every byte value at every position of two words and a tail.
        for at in 0..19 {
            for c in 0..=255u8 {
                let mut l = vec![b'x'; 19];
                l[at] = c;
                l[(at + 7) % 19] = 0xc3;
                assert_eq!(has_control(&l), is_control(c), "{c} at {at}");
            }
        }
    }

    #[test]
    fn header_end_variants() {
        assert_eq!(find_header_end(b"a\r\nb\r\n\r\nX"), Some((6, 8)));
        assert_eq!(find_header_end(b"a\nb\n\nX"), Some((4, 5)));
        assert_eq!(find_header_end(b"a\r\nb\r\n"), None);
    }

    #[test]
    fn rejects_structural_garbage() {
        let l = Limits::default();
        assert!(matches!(
            scan(b"X sip:a SIP/2.0\r\nNoColon\r\n\r\n", &l),
            Err(ParseError::BadHeader { .. })
        ));
        assert!(matches!(
            scan(b"X sip:a SIP/2.0\r\nBad Name: v\r\n\r\n", &l),
            Err(ParseError::BadHeader { .. })
        ));
        assert_eq!(
            scan(b"X sip:a SIP/2.0\r\nA: b\r\n", &l).unwrap_err(),
            ParseError::UnterminatedHeaders
        );
        assert!(matches!(
            scan(b"X sip:a SIP/2.0\r\nA: b\rc\r\n\r\n", &l),
            Err(ParseError::Unparseable { .. })
        ));
        assert!(matches!(
            scan(
                b"X sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h\0st;branch=z9hG4bK1\r\n\r\n",
                &l
            ),
            Err(ParseError::Unparseable { .. })
        ));
        assert!(scan(b"X sip:a SIP/2.0\r\nSubject: a\tb\r\n\r\n", &l).is_ok());
        assert!(scan(b"X sip:a SIP/2.0\r\nTo: \"a\\\x07b\" <sip:x@y>\r\n\r\n", &l).is_ok());
        assert!(
            scan(
                b"X sip:a SIP/2.0\r\nTo: \"a\\\\\x07b\" <sip:x@y>\r\n\r\n",
                &l
            )
            .is_err()
        );
    }
}
