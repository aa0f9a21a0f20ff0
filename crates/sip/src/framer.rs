//! [`StreamFramer`]: SIP message framing on TCP/TLS by Content-Length (RFC 3261 §18.3),
//! with the RFC 5626 §4.4.1 CRLF keep-alive.

use crate::compact::expand_compact_name;
use crate::normalize::find_header_end;
use crate::parse::parse_decimal;
use crate::{FrameError, Limits};

/// One unit pulled out of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// One complete message (header section + exactly Content-Length body bytes), ready
    /// for [`crate::parse_message`]. Leading CRLFs are not included.
    Message(Vec<u8>),
    /// A double-CRLF keep-alive "ping" (RFC 5626 §4.4.1). Answer it with a single CRLF
    /// ("pong") on the same connection.
    Ping,
}

/// Incremental framer for one stream connection. Feed it what the socket returns, then
/// pull frames until `Ok(None)` ("need more bytes", not an error).
///
/// ```
/// use drawbridge_sip::{Frame, Limits, StreamFramer};
/// # fn main() -> Result<(), drawbridge_sip::FrameError> {
/// let mut f = StreamFramer::new(Limits::default());
/// f.feed(b"\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n")?;
/// assert_eq!(f.next_frame(), Ok(Some(Frame::Ping)));
/// assert_eq!(f.next_frame(), Ok(None)); // header section not complete yet
/// f.feed(b"\r\n")?;
/// assert!(matches!(f.next_frame(), Ok(Some(Frame::Message(_)))));
/// # Ok(())
/// # }
/// ```
///
/// Any error is fatal for the connection (a stream cannot be resynchronised): close it.
#[derive(Debug)]
pub struct StreamFramer {
    limits: Limits,
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed (compacted lazily to avoid a memmove per frame).
    pos: usize,
    /// How far the header-end search got, so a slow sender does not cost O(n²).
    scanned: usize,
}

impl StreamFramer {
    /// A framer enforcing `limits` (message size, line length).
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            buf: Vec::with_capacity(4096),
            pos: 0,
            scanned: 0,
        }
    }

    /// Bytes buffered and not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Appends bytes read from the stream. Fails when more than two maximal messages are
    /// buffered: the caller must pull frames after each feed.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), FrameError> {
        let buffered = self.buffered() + data.len();
        if buffered > self.limits.max_message_size.saturating_mul(2) {
            return Err(FrameError::BufferFull { buffered });
        }
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.scanned = self.scanned.saturating_sub(self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        // Between messages: CRLFCRLF is a ping; a lone CRLF (a pong, or the padding
        // RFC 3261 §7.5 allows) is skipped. Bare LF counts as CRLF.
        loop {
            let rest = &self.buf[self.pos..];
            match rest {
                [b'\r', b'\n', b'\r', b'\n', ..] => {
                    self.consume(4);
                    return Ok(Some(Frame::Ping));
                }
                [b'\r', b'\n', b'\r'] | [b'\r', b'\n'] | [b'\r'] => return Ok(None),
                [b'\r', b'\n', ..] => self.consume(2),
                [b'\n', ..] => self.consume(1),
                _ => break,
            }
        }
        let rest = &self.buf[self.pos..];
        if rest.is_empty() {
            return Ok(None);
        }
        let max = self.limits.max_message_size;
        // Resume the search a few bytes back: the terminator may straddle two feeds.
        let from = self.scanned.saturating_sub(self.pos).saturating_sub(3);
        let Some((section_end, body_start)) =
            find_header_end(&rest[from..]).map(|(a, b)| (a + from, b + from))
        else {
            self.check_lines(from)?;
            if rest.len() > max {
                return Err(FrameError::HeadersTooLarge { max });
            }
            self.scanned = self.buf.len();
            return Ok(None);
        };
        if body_start > max {
            return Err(FrameError::HeadersTooLarge { max });
        }
        self.check_lines(from.min(section_end))?;
        let cl = content_length(&rest[..section_end])?.ok_or(FrameError::MissingContentLength)?;
        let total = body_start.saturating_add(cl);
        if total > max {
            return Err(FrameError::TooLarge { size: total, max });
        }
        if rest.len() < total {
            self.scanned = self.pos + section_end;
            return Ok(None);
        }
        let msg = rest[..total].to_vec();
        self.consume(total);
        Ok(Some(Frame::Message(msg)))
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        self.scanned = self.pos;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            self.scanned = 0;
        }
    }

    /// Rejects a header line longer than the limit (checked from `from` on).
    fn check_lines(&self, from: usize) -> Result<(), FrameError> {
        let rest = &self.buf[self.pos..];
        // Start at the beginning of the line containing `from`.
        let start = rest[..from]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let max = self.limits.max_line_length;
        if rest[start..]
            .split(|&b| b == b'\n')
            .any(|l| l.len() > max + 1)
        {
            return Err(FrameError::LineTooLong { max });
        }
        Ok(())
    }
}

/// Content-Length (or `l`) from a header section, folded lines understood. Several values
/// are an error even when equal (framing must be unambiguous).
fn content_length(section: &[u8]) -> Result<Option<usize>, FrameError> {
    let mut found: Option<usize> = None;
    let mut lines = section
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .skip(1)
        .peekable();
    while let Some(line) = lines.next() {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            continue;
        }
        let name = std::str::from_utf8(&line[..colon])
            .unwrap_or("")
            .trim_end_matches([' ', '\t']);
        let name = expand_compact_name(name).unwrap_or(name);
        if !name.eq_ignore_ascii_case("Content-Length") {
            continue;
        }
        let mut value = String::from_utf8_lossy(&line[colon + 1..]).into_owned();
        while let Some(next) = lines.next_if(|l| l.starts_with(b" ") || l.starts_with(b"\t")) {
            value.push(' ');
            value.push_str(&String::from_utf8_lossy(next));
        }
        let n = parse_decimal(value.trim_matches([' ', '\t']), 10)
            .ok_or(FrameError::BadContentLength)?;
        if found.replace(n).is_some() {
            return Err(FrameError::BadContentLength);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_forms() {
        assert_eq!(content_length(b"X\r\nl: 5\r\n").unwrap(), Some(5));
        assert_eq!(
            content_length(b"X\r\nContent-Length   :\r\n  12\r\n").unwrap(),
            Some(12)
        );
        assert_eq!(content_length(b"X\r\nA: b\r\n").unwrap(), None);
        assert_eq!(
            content_length(b"X\r\nl: -1\r\n"),
            Err(FrameError::BadContentLength)
        );
        assert_eq!(
            content_length(b"X\r\nl: 1\r\nL: 1\r\n"),
            Err(FrameError::BadContentLength)
        );
    }
}
