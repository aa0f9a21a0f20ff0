//! [`peek()`]: just enough of a broken request to answer it.

use crate::Limits;
use crate::compact::expand_compact_name;
use crate::normalize::skip_leading_newlines;
use crate::split::for_each_element;

/// The headers a stateless error response needs, pulled from raw bytes without a full parse.
///
/// For a request that [`crate::parse_message`] rejected: if `peek` finds them, answer with
/// [`Peek::response`]; if not, drop the message (RFC 3261 §8.2 cannot be followed without
/// them, and a scanner gets no answer either way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peek {
    /// Request method from the start line.
    pub method: String,
    /// Every Via value, top first (one per element of comma-separated lines).
    pub vias: Vec<String>,
    /// From header value.
    pub from: String,
    /// To header value.
    pub to: String,
    /// Call-ID header value.
    pub call_id: String,
    /// CSeq header value.
    pub cseq: String,
}

/// Extracts Via, From, To, Call-ID and CSeq from a request, tolerating everything else
/// being broken. Returns `None` for responses (never answered), for input over
/// [`Limits::max_message_size`], and when one of those headers is missing.
///
/// Lines are split on LF (CR stripped), folded lines are joined, compact names expanded;
/// the values are not validated beyond being UTF-8 without control characters.
pub fn peek(bytes: &[u8], limits: &Limits) -> Option<Peek> {
    if bytes.len() > limits.max_message_size {
        return None;
    }
    let bytes = skip_leading_newlines(bytes);
    let mut lines = bytes
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let start = std::str::from_utf8(lines.next()?).ok()?;
    if start.starts_with("SIP/") {
        return None;
    }
    let method = start.split(' ').next().filter(|m| !m.is_empty())?;
    let mut p = Peek {
        method: method.chars().take(32).collect(),
        vias: Vec::new(),
        from: String::new(),
        to: String::new(),
        call_id: String::new(),
        cseq: String::new(),
    };
    // (name, value) of the field being assembled; folded lines append to it.
    let mut current: Option<(&'static str, String)> = None;
    let mut n = 0usize;
    for raw in lines {
        if raw.is_empty() {
            break;
        }
        n += 1;
        if n > limits.max_headers * 2 || raw.len() > limits.max_line_length {
            return None;
        }
        let Ok(line) = std::str::from_utf8(raw) else {
            continue;
        };
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = current.as_mut() {
                v.push(' ');
                v.push_str(line.trim_matches([' ', '\t']));
            }
            continue;
        }
        if let Some((name, value)) = current.take() {
            p.store(name, value);
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim_end_matches([' ', '\t']);
        let name = expand_compact_name(name).unwrap_or(name);
        let wanted = ["Via", "From", "To", "Call-ID", "CSeq"]
            .into_iter()
            .find(|w| w.eq_ignore_ascii_case(name));
        if let Some(w) = wanted {
            current = Some((w, value.trim_matches([' ', '\t']).to_owned()));
        }
    }
    if let Some((name, value)) = current.take() {
        p.store(name, value);
    }
    let complete = !p.vias.is_empty()
        && !p.from.is_empty()
        && !p.to.is_empty()
        && !p.call_id.is_empty()
        && !p.cseq.is_empty();
    complete.then_some(p)
}

impl Peek {
    fn store(&mut self, name: &'static str, value: String) {
        // NUL, BEL … are legal in quoted strings (RFC 4475 §3.1.1.2) and are echoed back;
        // only line breaks would corrupt the response.
        if value.contains(['\r', '\n']) {
            return;
        }
        match name {
            "Via" => {
                if self.vias.len() >= 64 {
                    return;
                }
                let mut parts = Vec::new();
                if for_each_element(&value, |e| parts.push(e.to_owned())).is_ok() {
                    self.vias.extend(parts);
                } else {
                    self.vias.push(value);
                }
            }
            // First occurrence wins, like a proxy reading the message would.
            "From" if self.from.is_empty() => self.from = value,
            "To" if self.to.is_empty() => self.to = value,
            "Call-ID" if self.call_id.is_empty() => self.call_id = value,
            "CSeq" if self.cseq.is_empty() => self.cseq = value,
            _ => {}
        }
    }

    /// Wire bytes of a stateless response (`code` `reason`) echoing Via, From, To (plus
    /// `;tag=to_tag` when given and the To has no tag), Call-ID and CSeq, with
    /// `Content-Length: 0` (RFC 3261 §8.2.6.2). Built without rsip: the request may not
    /// be parseable by it.
    pub fn response(&self, code: u16, reason: &str, to_tag: Option<&str>) -> Vec<u8> {
        let reason: String = reason.chars().filter(|c| !c.is_control()).collect();
        let mut out = format!("SIP/2.0 {code} {reason}\r\n");
        for v in &self.vias {
            out.push_str("Via: ");
            out.push_str(v);
            out.push_str("\r\n");
        }
        out.push_str("From: ");
        out.push_str(&self.from);
        out.push_str("\r\nTo: ");
        out.push_str(&self.to);
        if let Some(tag) = to_tag
            && !has_tag_param(&self.to)
        {
            out.push_str(";tag=");
            out.push_str(tag);
        }
        out.push_str("\r\nCall-ID: ");
        out.push_str(&self.call_id);
        out.push_str("\r\nCSeq: ");
        out.push_str(&self.cseq);
        out.push_str("\r\nContent-Length: 0\r\n\r\n");
        out.into_bytes()
    }
}

/// Whether a name-addr header value carries a `tag` header parameter (outside `<>`/quotes).
pub(crate) fn has_tag_param(value: &str) -> bool {
    let mut in_quote = false;
    let mut in_angle = false;
    let mut escaped = false;
    let b = value.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if in_quote {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_quote = false;
            }
            continue;
        }
        match c {
            b'"' => in_quote = true,
            b'<' => in_angle = true,
            b'>' => in_angle = false,
            b';' if !in_angle => {
                let rest = value[i + 1..].trim_start();
                let name = rest.split(['=', ';', ' ', '\t']).next().unwrap_or("");
                if name.eq_ignore_ascii_case("tag") {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}
