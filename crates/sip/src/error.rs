//! Error types: one enum per failure domain (message parsing, stream framing).

/// Why a SIP message was rejected by [`crate::parse_message`].
///
/// Every variant is short and safe to log (no peer-controlled text beyond a bounded name).
/// The comment on each variant says how an SBC should answer; [`ParseError::status_code`]
/// gives that code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Empty input (or only line breaks). Drop silently.
    #[error("empty message")]
    Empty,
    /// The message is larger than [`crate::Limits::max_message_size`]. Answer 513 or drop.
    #[error("message of {size} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Size of the input (or the size its Content-Length announces).
        size: usize,
        /// The limit in force.
        max: usize,
    },
    /// More header fields than [`crate::Limits::max_headers`]. Answer 400 or drop.
    #[error("more than {max} header fields")]
    TooManyHeaders {
        /// The limit in force.
        max: usize,
    },
    /// A physical line is longer than [`crate::Limits::max_line_length`]. Answer 400 or drop.
    #[error("line longer than {max} bytes")]
    LineTooLong {
        /// The limit in force.
        max: usize,
    },
    /// More Via values than [`crate::Limits::max_via`]. Answer 400 or drop (likely a loop).
    #[error("more than {max} Via values")]
    TooManyVia {
        /// The limit in force.
        max: usize,
    },
    /// The request or status line is malformed. Answer 400 (requests) or drop (responses).
    #[error("bad start line: {reason}")]
    BadStartLine {
        /// What is wrong, in a few words.
        reason: &'static str,
    },
    /// The SIP version is not 2.0. Answer 505 Version Not Supported (RFC 3261 §21.5.13).
    #[error("unsupported SIP version")]
    UnsupportedVersion,
    /// A syntactically valid request with a method we do not implement (methods are
    /// case-sensitive: `invite` and `IN%56ITE` are unknown). Answer 501 Not Implemented.
    #[error("unknown method {0:?}")]
    UnknownMethod(String),
    /// A URI scheme rsip cannot represent (Request-URI, From or To), e.g. `isbn:`, or an
    /// opaque URI without a host. Answer 416 Unsupported URI Scheme (RFC 3261 §8.2.2.1).
    #[error("unsupported URI scheme")]
    UnsupportedUriScheme,
    /// The header section has no terminating empty line. Answer 400 or drop.
    #[error("header section not terminated by an empty line")]
    UnterminatedHeaders,
    /// A header line is malformed. Answer 400.
    #[error("bad {name} header: {reason}")]
    BadHeader {
        /// Header name (truncated to 32 bytes).
        name: String,
        /// What is wrong, in a few words.
        reason: &'static str,
    },
    /// A header every request and response must carry is missing (RFC 3261 §8.1.1). Answer 400.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// A header that may appear only once appears more than once (RFC 4475 §3.3.8). Answer 400.
    #[error("more than one {0} header")]
    DuplicateHeader(&'static str),
    /// Content-Length is not a non-negative decimal number, or there are conflicting ones.
    /// Answer 400 (datagram) or close the connection (stream).
    #[error("bad Content-Length: {reason}")]
    BadContentLength {
        /// What is wrong, in a few words.
        reason: &'static str,
    },
    /// The body is shorter than Content-Length says (RFC 3261 §18.3: a datagram; answer 400).
    #[error("body of {got} bytes is shorter than Content-Length {expected}")]
    Truncated {
        /// Content-Length.
        expected: usize,
        /// Bytes actually present after the header section.
        got: usize,
    },
    /// CSeq is not `number method` with a number below 2^32. Answer 400.
    #[error("bad CSeq")]
    BadCSeq,
    /// The CSeq method differs from the request method (RFC 4475 §3.1.2.17). Answer 400.
    #[error("CSeq method {cseq} does not match request method {method}")]
    CSeqMismatch {
        /// Request method.
        method: String,
        /// Method in CSeq.
        cseq: String,
    },
    /// Max-Forwards is not a number in 0..=255. Answer 400.
    #[error("bad Max-Forwards")]
    BadMaxForwards,
    /// rsip could not make sense of a part the pre-pass let through. Answer 400.
    #[error("unparseable message: {reason}")]
    Unparseable {
        /// Which part failed, in a few words (never rsip's nested error text).
        reason: &'static str,
    },
}

impl ParseError {
    /// The status code a server should answer a *request* rejected with this error with
    /// (RFC 3261 §21, RFC 4475). `None` means: do not answer (drop silently).
    pub fn status_code(&self) -> Option<u16> {
        match self {
            Self::Empty => None,
            Self::TooLarge { .. } => Some(513),
            Self::UnsupportedVersion => Some(505),
            Self::UnknownMethod(_) => Some(501),
            Self::UnsupportedUriScheme => Some(416),
            _ => Some(400),
        }
    }
}

/// Why a [`crate::StreamFramer`] gave up on a stream. Every variant is fatal for the
/// connection: framing on a stream cannot be recovered (RFC 3261 §18.3), close it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A message (headers + Content-Length) exceeds [`crate::Limits::max_message_size`].
    #[error("message of {size} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Announced or buffered size.
        size: usize,
        /// The limit in force.
        max: usize,
    },
    /// The header section is not terminated within [`crate::Limits::max_message_size`] bytes.
    #[error("header section not terminated within {max} bytes")]
    HeadersTooLarge {
        /// The limit in force.
        max: usize,
    },
    /// A header line is longer than [`crate::Limits::max_line_length`].
    #[error("line longer than {max} bytes")]
    LineTooLong {
        /// The limit in force.
        max: usize,
    },
    /// A message on a stream has no Content-Length (mandatory on streams, RFC 3261 §18.3, §20.14).
    #[error("missing Content-Length on a stream")]
    MissingContentLength,
    /// Content-Length is not a decimal number, or several disagree.
    #[error("bad Content-Length")]
    BadContentLength,
    /// The caller fed more unconsumed bytes than two maximal messages without pulling frames.
    #[error("receive buffer full ({buffered} bytes)")]
    BufferFull {
        /// Bytes buffered.
        buffered: usize,
    },
}
