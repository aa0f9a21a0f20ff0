//! Lexical helpers for header values: top-level comma splitting, quote/angle balance,
//! and compaction of linear white space around separators.

/// Why a header value could not be split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SplitError {
    /// A quoted string is not terminated.
    UnterminatedQuote,
    /// A `<` has no matching `>` (or a `>` comes first).
    UnbalancedAngle,
    /// An element of a comma-separated list is empty (`a,,b`, trailing comma).
    EmptyElement,
}

impl SplitError {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::UnterminatedQuote => "unterminated quoted string",
            Self::UnbalancedAngle => "unbalanced <>",
            Self::EmptyElement => "empty list element",
        }
    }
}

/// Calls `f` for each top-level comma-separated element of `value`, trimmed. Commas inside
/// quoted strings (with `\` escapes) and inside `<...>` do not split.
pub(crate) fn for_each_element<'a>(
    value: &'a str,
    mut f: impl FnMut(&'a str),
) -> Result<(), SplitError> {
    let bytes = value.as_bytes();
    let mut in_quote = false;
    let mut in_angle = false;
    let mut escaped = false;
    let mut start = 0;
    let mut emit = |s: &'a str| -> Result<(), SplitError> {
        let t = s.trim_matches([' ', '\t']);
        if t.is_empty() {
            return Err(SplitError::EmptyElement);
        }
        f(t);
        Ok(())
    };
    for (i, &b) in bytes.iter().enumerate() {
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
            b'"' if !in_angle => in_quote = true,
            b'<' if !in_angle => in_angle = true,
            b'<' => return Err(SplitError::UnbalancedAngle),
            b'>' if in_angle => in_angle = false,
            b'>' => return Err(SplitError::UnbalancedAngle),
            b',' if !in_angle => {
                // ok: i is at an ASCII comma, so both slices are on char boundaries.
                emit(&value[start..i])?;
                start = i + 1;
            }
            _ => {}
        }
    }
    if in_quote {
        return Err(SplitError::UnterminatedQuote);
    }
    if in_angle {
        return Err(SplitError::UnbalancedAngle);
    }
    emit(&value[start..])
}

/// Checks quotes and angle brackets of a single-valued name-addr header (From, To …).
pub(crate) fn check_balanced(value: &str) -> Result<(), SplitError> {
    let mut in_quote = false;
    let mut in_angle = false;
    let mut escaped = false;
    for b in value.bytes() {
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
            b'"' if !in_angle => in_quote = true,
            b'<' if !in_angle => in_angle = true,
            b'>' if in_angle => in_angle = false,
            b'<' | b'>' => return Err(SplitError::UnbalancedAngle),
            _ => {}
        }
    }
    if in_quote {
        Err(SplitError::UnterminatedQuote)
    } else if in_angle {
        Err(SplitError::UnbalancedAngle)
    } else {
        Ok(())
    }
}

/// Rewrites `value` into `out` with linear white space compacted outside quoted strings:
/// runs of SP/HT become one SP, and disappear next to `;`, `=`, `,`, after `<`, before `>`
/// and (when `slash_tight`, for Via's `SIP / 2.0 / UDP`) around `/`. RFC 3261 §25.1 allows
/// this LWS (SWS) everywhere these separators appear; rsip's typed parsers do not, so the
/// pre-pass removes it. Returns `false` (leaving `out` unspecified) if nothing would change.
pub(crate) fn compact_lws(value: &str, slash_tight: bool, out: &mut String) -> bool {
    let tight_after = |c: char| matches!(c, ';' | '=' | ',' | '<') || (slash_tight && c == '/');
    let tight_before = |c: char| matches!(c, ';' | '=' | ',' | '>') || (slash_tight && c == '/');
    // Fast path: nothing to do when there is no white space next to a separator and no run.
    // Looks only around the (few) white-space bytes: the same pairs as testing every
    // window `(x, y)` for `x` white and `y` white or tight-before, `x` tight-after and
    // `y` white, or `y` a tab.
    let needs = {
        let b = value.as_bytes();
        b.iter().enumerate().any(|(i, &c)| {
            c.is_ascii_whitespace()
                && ((i > 0 && (c == b'\t' || tight_after(b[i - 1] as char)))
                    || b.get(i + 1)
                        .is_some_and(|&y| y.is_ascii_whitespace() || tight_before(y as char)))
        })
    };
    if !needs {
        return false;
    }
    out.clear();
    out.reserve(value.len());
    let mut in_quote = false;
    let mut escaped = false;
    let mut pending_space = false;
    let mut prev: Option<char> = None;
    for c in value.chars() {
        if in_quote {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quote = false;
            }
            prev = Some(c);
            continue;
        }
        if c == ' ' || c == '\t' {
            pending_space = true;
            continue;
        }
        if pending_space {
            pending_space = false;
            if let Some(p) = prev
                && !tight_after(p)
                && !tight_before(c)
            {
                out.push(' ');
            }
        }
        if c == '"' {
            in_quote = true;
        }
        out.push(c);
        prev = Some(c);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(v: &str) -> Result<Vec<&str>, SplitError> {
        let mut out = Vec::new();
        for_each_element(v, |e| out.push(e))?;
        Ok(out)
    }

    #[test]
    fn splits_on_top_level_commas_only() {
        assert_eq!(
            split(r#""a, b" <sip:x@y;p=1,2>;q=1 , <sip:z@w>"#).unwrap(),
            vec![r#""a, b" <sip:x@y;p=1,2>;q=1"#, "<sip:z@w>"]
        );
        assert_eq!(split(r#""quote \", still" <sip:a@b>"#).unwrap().len(), 1);
        assert_eq!(split("*").unwrap(), vec!["*"]);
        assert_eq!(split("a,,b"), Err(SplitError::EmptyElement));
        assert_eq!(split("a,"), Err(SplitError::EmptyElement));
        assert_eq!(
            split(r#""open <sip:a@b>"#),
            Err(SplitError::UnterminatedQuote)
        );
        assert_eq!(split("<sip:a@b"), Err(SplitError::UnbalancedAngle));
        assert_eq!(split("sip:a@b>"), Err(SplitError::UnbalancedAngle));
    }

    #[test]
    fn compacts_lws_around_separators_but_not_in_quotes() {
        let mut out = String::new();
        assert!(compact_lws(
            "SIP  /   2.0 /UDP    192.0.2.2 ;  branch = x",
            true,
            &mut out
        ));
        assert_eq!(out, "SIP/2.0/UDP 192.0.2.2;branch=x");
        assert!(compact_lws(
            r#""J  R ; x"   <sip:a@b> ;  tag = 9"#,
            false,
            &mut out
        ));
        assert_eq!(out, r#""J  R ; x" <sip:a@b>;tag=9"#);
        assert!(compact_lws("< sip:a@b >", false, &mut out));
        assert_eq!(out, "<sip:a@b>");
        assert!(!compact_lws("<sip:a@b>;tag=1", false, &mut out));
        assert!(!compact_lws("\"a b\" <sip:a@b>", false, &mut out));
        assert!(compact_lws("a\tb", false, &mut out));
        assert!(!compact_lws("\ta", false, &mut out));
        assert!(compact_lws("a/ b", true, &mut out));
        assert!(!compact_lws("a/ b", false, &mut out));
    }
}
