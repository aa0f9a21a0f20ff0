//! [`parse_message`]: limits, the normalising pre-pass, rsip, and the sanity checks.

use rsip::SipMessage;
use rsip::prelude::{HasHeaders as _, ToTypedHeader as _};

use crate::compact::expand_compact_name;
use crate::normalize::{self, Field, bad_header, is_token, is_token_byte};
use crate::split::{check_balanced, compact_lws, for_each_element};
use crate::userinfo::{escape_header_uri, escape_request_uri, header_uri};
use crate::{Limits, ParseError};

/// Methods rsip 0.4 models; anything else (including other letter case) is unknown.
const KNOWN_METHODS: [&str; 14] = [
    "ACK",
    "BYE",
    "CANCEL",
    "INFO",
    "INVITE",
    "MESSAGE",
    "NOTIFY",
    "OPTIONS",
    "PRACK",
    "PUBLISH",
    "REFER",
    "REGISTER",
    "SUBSCRIBE",
    "UPDATE",
];

/// The parsed start line.
enum StartLine<'a> {
    Request { method: &'a str, uri: &'a str },
    Response { code: u16, reason: &'a str },
}

/// What the pre-pass does with a header, by (expanded) name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Via,
    /// Route, Record-Route: list of name-addr, one header per value.
    RouteList,
    Contact,
    /// Single name-addr (From, To, Reply-To, Refer-To, Referred-By).
    NameAddr(Single),
    CallId,
    CSeq,
    MaxForwards,
    ContentLength,
    ContentType,
    Other,
}

/// Headers that must appear at most once; index into the counters.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Single {
    From = 0,
    To = 1,
    Other = 2,
}

fn classify(name: &str) -> Kind {
    let is = |s: &str| name.eq_ignore_ascii_case(s);
    // By length first: each header name is compared with the one or two known names of
    // its length only.
    match name.len() {
        2 if is("To") => Kind::NameAddr(Single::To),
        3 if is("Via") => Kind::Via,
        4 if is("From") => Kind::NameAddr(Single::From),
        4 if is("CSeq") => Kind::CSeq,
        5 if is("Route") => Kind::RouteList,
        7 if is("Contact") => Kind::Contact,
        7 if is("Call-ID") => Kind::CallId,
        8 if is("Reply-To") || is("Refer-To") => Kind::NameAddr(Single::Other),
        11 if is("Referred-By") => Kind::NameAddr(Single::Other),
        12 if is("Record-Route") => Kind::RouteList,
        12 if is("Max-Forwards") => Kind::MaxForwards,
        12 if is("Content-Type") => Kind::ContentType,
        14 if is("Content-Length") => Kind::ContentLength,
        _ => Kind::Other,
    }
}

/// Parses one complete SIP message (a UDP datagram, or one frame from [`crate::StreamFramer`]).
///
/// Before rsip sees anything, the pre-pass:
/// - rejects input over [`Limits::max_message_size`] without looking at it, and enforces
///   the line, header and Via limits while scanning;
/// - skips leading CRLFs, accepts bare-LF line endings, unfolds continuation lines;
/// - expands compact header names (`v:` → `Via:` …, see [`crate::expand_compact_name`]);
/// - puts each value of Via, Route, Record-Route and Contact on its own header line
///   (commas inside quotes and `<>` do not split; `a,,b` is an error);
/// - removes the optional white space around `;`, `=`, `/` (Via) that rsip's typed
///   parsers trip on, and writes CSeq, Max-Forwards and Content-Length canonically;
/// - escapes the dots of user parts in SIP URIs (`john%2Edoe`, see [`crate::normalized_user`]);
/// - frames the body by Content-Length as RFC 3261 §18.3 says for datagrams: a shorter body
///   is [`ParseError::Truncated`], extra bytes are dropped; without Content-Length the rest
///   of the input is the body.
///
/// Then it checks that Via, From, To, Call-ID and CSeq are present (Max-Forwards may be
/// missing), that single-valued headers are single, that the CSeq method equals the request
/// method, that the top Via parses as a typed header, that the Request-URI is a `sip:`,
/// `sips:` or `tel:` URI ([`ParseError::UnsupportedUriScheme`] otherwise), and, in a
/// request that may start a dialog (its To has no tag), that From and To parse as typed
/// headers with such URIs. In-dialog requests and responses are matched by their tags
/// (read with [`crate::fields`]) and their From/To are never read typed, so they are not
/// parsed typed here either: that was a fifth of parsing a call's messages.
///
/// The error says what to answer: see [`ParseError::status_code`].
pub fn parse_message(bytes: &[u8], limits: &Limits) -> Result<SipMessage, ParseError> {
    parse_with(bytes, limits, true)
}

/// [`parse_message`] that always builds the canonical copy, even for input that is
/// canonical already: the fuzz oracle checks the two agree on every input.
pub(crate) fn parse_copying(bytes: &[u8], limits: &Limits) -> Result<SipMessage, ParseError> {
    parse_with(bytes, limits, false)
}

/// `allow_verbatim`: hand rsip the input itself when it is already canonical.
fn parse_with(
    bytes: &[u8],
    limits: &Limits,
    allow_verbatim: bool,
) -> Result<SipMessage, ParseError> {
    if bytes.len() > limits.max_message_size {
        return Err(ParseError::TooLarge {
            size: bytes.len(),
            max: limits.max_message_size,
        });
    }
    let bytes = normalize::skip_leading_newlines(bytes);
    if bytes.is_empty() {
        return Err(ParseError::Empty);
    }
    let scanned = normalize::scan(bytes, limits)?;
    let start = parse_start_line(scanned.start_line)?;

    // The Request-URI as rsip will see it (dots of the user part escaped, see `userinfo`).
    let mut request_uri = String::new();
    let uri_escaped = match start {
        StartLine::Request { uri, .. } => escape_request_uri(uri, &mut request_uri),
        StartLine::Response { .. } => false,
    };
    if let StartLine::Request { uri, .. } = start
        && !uri_escaped
    {
        request_uri.push_str(uri);
    }
    // The start line as written below is the one received unless the URI was escaped,
    // or a status line has no SP after the code.
    let start_same = match start {
        StartLine::Request { .. } => !uri_escaped,
        StartLine::Response { reason, .. } => scanned.start_line.len() == 12 + reason.len(),
    };
    let mut canon = Canon {
        input: bytes,
        out: Vec::new(),
        verbatim: allow_verbatim && scanned.crlf_unfolded && start_same,
        n_headers: 0,
        max_headers: limits.max_headers,
    };
    if !canon.verbatim {
        canon.start();
        match start {
            StartLine::Request { method, .. } => {
                canon.push(method);
                canon.push(" ");
                canon.push(&request_uri);
                canon.push(" SIP/2.0\r\n");
            }
            StartLine::Response { code, reason } => {
                canon.push("SIP/2.0 ");
                canon.push_number(usize::from(code));
                canon.push(" ");
                canon.push(reason);
                canon.push("\r\n");
            }
        }
    }
    let mut scratch = String::new();
    let mut uri_scratch = String::new();

    let mut n_via = 0usize;
    let mut singles = [0u8; 3]; // From, To, (other name-addr headers are not counted)
    let mut call_id = 0u8;
    let mut cseq: Option<(u32, &str)> = None;
    let mut max_forwards = 0u8;
    let mut content_type = 0u8;
    let mut content_length: Option<usize> = None;

    for field in &scanned.fields {
        let name = expand_compact_name(field.name).unwrap_or(field.name);
        let value: &str = &field.value;
        // Written as received: the line is exactly `name: value` under its long name;
        // each arm below also requires that it would write the value unchanged.
        let same = field.exact && name == field.name;
        let kind = classify(name);
        match kind {
            Kind::Via | Kind::RouteList | Kind::Contact => {
                let compacted = compact_lws(value, kind == Kind::Via, &mut scratch);
                let value = if compacted { scratch.as_str() } else { value };
                // Nearly every line holds one element: count them and keep the first,
                // and only collect them all when there are several.
                let mut count = 0usize;
                let mut first = "";
                for_each_element(value, |e| {
                    if count == 0 {
                        first = e;
                    }
                    count += 1;
                })
                .map_err(|e| bad_header(name, e.reason()))?;
                let mut many: Vec<&str> = Vec::new();
                if count > 1 {
                    many.reserve(count);
                    // ok to ignore: the same split succeeded just above.
                    let _ = for_each_element(value, |e| many.push(e));
                    if kind == Kind::Contact && many.contains(&"*") {
                        return Err(bad_header(name, "* with other values"));
                    }
                }
                let parts = if count > 1 {
                    many.as_slice()
                } else {
                    std::slice::from_ref(&first)
                };
                if kind == Kind::Via {
                    n_via += count;
                    if n_via > limits.max_via {
                        return Err(ParseError::TooManyVia {
                            max: limits.max_via,
                        });
                    }
                }
                let single = count == 1;
                for p in parts {
                    let escaped = kind != Kind::Via && escape_header_uri(p, &mut uri_scratch);
                    let p = if escaped { uri_scratch.as_str() } else { p };
                    // A single element is the whole (trimmed) value.
                    canon.header(field, name, p, same && !compacted && single && !escaped)?;
                }
            }
            Kind::NameAddr(which) => {
                check_balanced(value).map_err(|e| bad_header(name, e.reason()))?;
                if which != Single::Other {
                    singles[which as usize] += 1;
                }
                let compacted = compact_lws(value, false, &mut scratch);
                let value = if compacted { scratch.as_str() } else { value };
                let escaped = escape_header_uri(value, &mut uri_scratch);
                let value = if escaped { uri_scratch.as_str() } else { value };
                // Dialogs are matched by the From/To tags as `fields` reads them; where
                // rsip would read another tag (one cut short at a character no tag may
                // hold, a bare URI with white space before its parameters), the two would
                // disagree about which dialog a message belongs to.
                if which != Single::Other && !crate::fields::name_addr_tag_is_unambiguous(value) {
                    return Err(bad_header(name, "tag or URI read ambiguously"));
                }
                canon.header(field, name, value, same && !compacted && !escaped)?;
            }
            Kind::CallId => {
                call_id = call_id.saturating_add(1);
                if value.is_empty() || value.contains([' ', '\t']) {
                    return Err(bad_header(name, "not a single word"));
                }
                canon.header(field, name, value, same)?;
            }
            Kind::CSeq => {
                if cseq.is_some() {
                    return Err(ParseError::DuplicateHeader("CSeq"));
                }
                let (seq, method) = parse_cseq(value)?;
                canon.cseq(field, name, seq, method, same)?;
                cseq = Some((seq, method));
            }
            Kind::MaxForwards => {
                max_forwards = max_forwards.saturating_add(1);
                let n = parse_decimal(value, 3).filter(|&n| n <= 255);
                let n = n.ok_or(ParseError::BadMaxForwards)?;
                canon.number(field, name, n, same)?;
            }
            Kind::ContentLength => {
                let n = parse_decimal(value, 10).ok_or(ParseError::BadContentLength {
                    reason: "not a decimal number",
                })?;
                if content_length.is_some() {
                    // RFC 4475 §3.3.9 (mcl01): several Content-Length values are an error
                    // even when they agree; framing must be unambiguous.
                    return Err(ParseError::BadContentLength {
                        reason: "more than one value",
                    });
                }
                content_length = Some(n);
                canon.number(field, name, n, same)?;
            }
            Kind::ContentType => {
                content_type = content_type.saturating_add(1);
                canon.header(field, name, value, same)?;
            }
            Kind::Other => canon.header(field, name, value, same)?,
        }
    }

    if n_via == 0 {
        return Err(ParseError::MissingHeader("Via"));
    }
    for (count, label) in [
        (singles[Single::From as usize], "From"),
        (singles[Single::To as usize], "To"),
        (call_id, "Call-ID"),
    ] {
        match count {
            0 => return Err(ParseError::MissingHeader(label)),
            1 => {}
            _ => return Err(ParseError::DuplicateHeader(label)),
        }
    }
    let Some((_, cseq_method)) = cseq else {
        return Err(ParseError::MissingHeader("CSeq"));
    };
    if max_forwards > 1 {
        return Err(ParseError::DuplicateHeader("Max-Forwards"));
    }
    if content_type > 1 {
        return Err(ParseError::DuplicateHeader("Content-Type"));
    }
    if let StartLine::Request { method, .. } = start {
        if !KNOWN_METHODS.contains(&method) {
            // Checked after the headers so a 501 is only suggested for an otherwise
            // well-formed request; before the CSeq comparison because RFC 4475 §3.1.2.18
            // prefers 501 over 400 for an unknown method with a mismatching CSeq.
            return Err(ParseError::UnknownMethod(method.chars().take(32).collect()));
        }
        if cseq_method != method {
            return Err(ParseError::CSeqMismatch {
                method: method.to_owned(),
                cseq: cseq_method.chars().take(32).collect(),
            });
        }
    }

    let mut body = scanned.body;
    if let Some(cl) = content_length {
        if cl > limits.max_message_size {
            return Err(ParseError::TooLarge {
                size: cl,
                max: limits.max_message_size,
            });
        }
        if body.len() < cl {
            return Err(ParseError::Truncated {
                expected: cl,
                got: body.len(),
            });
        }
        // RFC 3261 §18.3: octets beyond Content-Length in a datagram are discarded.
        body = &body[..cl];
    }
    let message: &[u8] = if canon.verbatim {
        // Every line was written as received: the input, cut after the body, is the
        // canonical text (the section and its CRLF end where the body starts).
        let body_start = bytes.len() - scanned.body.len();
        &bytes[..body_start + body.len()]
    } else {
        canon.out.extend_from_slice(b"\r\n");
        canon.out.extend_from_slice(body);
        &canon.out
    };

    let msg = SipMessage::try_from(message).map_err(|_| match start {
        // Re-parse the request line alone to tell a URI rsip cannot handle from a header
        // problem (rsip's own error text is a nested nom dump).
        StartLine::Request { method, .. } => {
            let line = format!("{method} {request_uri} SIP/2.0\r\n\r\n");
            if SipMessage::try_from(line.as_str()).is_ok() {
                ParseError::Unparseable { reason: "header" }
            } else if is_sip_scheme(&request_uri) {
                ParseError::Unparseable {
                    reason: "Request-URI",
                }
            } else {
                ParseError::UnsupportedUriScheme
            }
        }
        StartLine::Response { .. } => ParseError::Unparseable {
            reason: "status line or header",
        },
    })?;
    check_typed(&msg)?;
    Ok(msg)
}

/// The canonical text the pre-pass hands to rsip: either the input itself (`verbatim`,
/// while every header so far is written exactly as it came) or a copy built from the
/// first header that differs on.
struct Canon<'a> {
    input: &'a [u8],
    out: Vec<u8>,
    verbatim: bool,
    n_headers: usize,
    max_headers: usize,
}

impl Canon<'_> {
    /// Starts the copy (the start line is written by the caller).
    fn start(&mut self) {
        self.verbatim = false;
        self.out.reserve(self.input.len() + 64);
    }

    fn push(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    fn push_number(&mut self, n: usize) {
        crate::edit::push_decimal(&mut self.out, n);
    }

    /// Counts a header and, unless it is `same` as its received line and everything before
    /// it was too, writes `name: value` (after copying the verbatim lines before it).
    fn begin(&mut self, field: &Field<'_>, same: bool) -> Result<bool, ParseError> {
        self.n_headers += 1;
        if self.n_headers > self.max_headers {
            return Err(ParseError::TooManyHeaders {
                max: self.max_headers,
            });
        }
        if self.verbatim {
            if same {
                return Ok(false);
            }
            self.start();
            // Everything before this line is already canonical.
            self.out.extend_from_slice(&self.input[..field.line_start]);
        }
        Ok(true)
    }

    fn header(
        &mut self,
        field: &Field<'_>,
        name: &str,
        value: &str,
        same: bool,
    ) -> Result<(), ParseError> {
        if self.begin(field, same)? {
            self.push(name);
            self.push(": ");
            self.push(value);
            self.push("\r\n");
        }
        Ok(())
    }

    /// `name: n`; the same as received if the value was written so (no leading zeros).
    fn number(
        &mut self,
        field: &Field<'_>,
        name: &str,
        n: usize,
        same: bool,
    ) -> Result<(), ParseError> {
        let same = same && !(field.value.len() > 1 && field.value.starts_with('0'));
        if self.begin(field, same)? {
            self.push(name);
            self.push(": ");
            self.push_number(n);
            self.push("\r\n");
        }
        Ok(())
    }

    /// `CSeq: seq METHOD`; the same as received if written with one SP and no leading zero.
    fn cseq(
        &mut self,
        field: &Field<'_>,
        name: &str,
        seq: u32,
        method: &str,
        same: bool,
    ) -> Result<(), ParseError> {
        let v: &str = &field.value;
        let same = same
            && v.ends_with(method)
            && v.len() > method.len() + 1
            && v.as_bytes()[v.len() - method.len() - 1] == b' '
            && {
                let digits = &v[..v.len() - method.len() - 1];
                digits.bytes().all(|b| b.is_ascii_digit())
                    && !(digits.len() > 1 && digits.starts_with('0'))
            };
        if self.begin(field, same)? {
            self.push(name);
            self.push(": ");
            self.push_number(seq as usize);
            self.push(" ");
            self.push(method);
            self.push("\r\n");
        }
        Ok(())
    }
}

/// Parses a message this process wrote itself, such as a request the B2BUA built for one
/// leg from values that already passed [`parse_message`] on the other: rsip, and the
/// Request-URI check of [`parse_message`], without its normalising pre-pass and without
/// re-checking that From, To and the top Via parse as typed headers (their values were
/// checked when they arrived, or written here).
///
/// The text must already be canonical — CRLF line ends, long header names, one value per
/// Via/Route/Record-Route/Contact line, no folding, a correct Content-Length — which the
/// pre-pass would only have copied. A fraction of [`parse_message`]'s cost. Never use it
/// for bytes from the network: the pre-pass is what enforces the limits and the grammar.
///
/// # Errors
/// [`ParseError::Unparseable`] when rsip cannot read it, [`ParseError::UnsupportedUriScheme`]
/// for a Request-URI that is not `sip:`, `sips:` or `tel:`.
pub fn parse_built(bytes: &[u8]) -> Result<SipMessage, ParseError> {
    let msg = SipMessage::try_from(bytes).map_err(|_| ParseError::Unparseable {
        reason: "message built from relayed values",
    })?;
    if let SipMessage::Request(r) = &msg {
        check_request_uri_scheme(&r.uri)?;
    }
    Ok(msg)
}

/// The top Via must parse as a typed header (the B2BUA reads it for every message, and a
/// 400 now is better than a failure deep in a transaction), and so must From and To of a
/// request that may start a dialog (one without a To tag, other than ACK and CANCEL): the
/// B2BUA takes the caller's and callee's identity from them. The Request-URI, and those From and To, must also be SIP(S) or tel URIs as
/// rsip reads them: rsip "parses" some foreign URIs without a scheme (`mailto:a@b` as user
/// `mailto`, password `a`), which must not reach the B2BUA as if they were SIP.
fn check_typed(msg: &SipMessage) -> Result<(), ParseError> {
    use rsip::Header;
    use rsip::headers::UntypedHeader as _;
    let starts_dialog = match msg {
        SipMessage::Request(r) => {
            check_request_uri_scheme(&r.uri)?;
            // An ACK or CANCEL never starts a dialog: each matches an INVITE (by branch or
            // by tags), and an ACK for a failure repeats the failure's To as it came (RFC
            // 3261 §17.1.1.3), tag or not.
            !matches!(r.method, rsip::Method::Ack | rsip::Method::Cancel)
                && !msg.headers().iter().any(|h| match h {
                    Header::To(t) => crate::fields::name_addr_param(t.value(), "tag")
                        .is_some_and(|t| !t.is_empty()),
                    _ => false,
                })
        }
        SipMessage::Response(_) => false,
    };
    let mut via_seen = false;
    for h in msg.headers().iter() {
        let (name, typed_uri) = match h {
            Header::Via(v) if !via_seen => {
                via_seen = true;
                if let Some(plain) = simple_via(v.value()) {
                    // rsip reads this value as it is written (see `simple_via`),
                    // and so do `fields::via_param` and `via_sent_by` (no quotes, no
                    // white space, a sent-by): the same ambiguity check without running
                    // either parser. The fuzz target checks both readings.
                    if plain.text_branch != plain.rsip_branch {
                        return Err(bad_header("Via", "ambiguous branch or sent-by"));
                    }
                    continue;
                }
                let typed = v.typed();
                // The B2BUA reads the branch and sent-by from the text (`fields`); a Via
                // that text and rsip read differently is ambiguous: refuse it rather than
                // let the two halves of the stack disagree on the transaction.
                if let Ok(t) = &typed {
                    let branch = t.branch().map(|b| b.value().to_owned());
                    if crate::fields::via_param(v.value(), "branch") != branch.as_deref()
                        || crate::fields::via_sent_by(v.value()).is_none()
                    {
                        return Err(bad_header("Via", "ambiguous branch or sent-by"));
                    }
                }
                ("Via", typed.map(|_| None))
            }
            Header::From(f) if starts_dialog => ("From", f.typed().map(|t| Some(t.uri))),
            Header::To(t) if starts_dialog => ("To", t.typed().map(|t| Some(t.uri))),
            _ => continue,
        };
        match typed_uri {
            Ok(None) => {}
            Ok(Some(uri)) => match uri_problem(&uri) {
                Some(UriProblem::Scheme) => return Err(ParseError::UnsupportedUriScheme),
                Some(UriProblem::Misread) => return Err(bad_header(name, "unparseable URI")),
                None => {}
            },
            Err(_) if name != "Via" && !name_addr_has_sip_scheme(&h.to_string()) => {
                return Err(ParseError::UnsupportedUriScheme);
            }
            Err(_) => return Err(bad_header(name, "unparseable value")),
        }
    }
    Ok(())
}

/// The two readings of a plain Via's branch (see [`simple_via`]).
pub(crate) struct PlainVia<'a> {
    /// What rsip's typed Via reads: the first `branch` parameter with a value.
    pub(crate) rsip_branch: Option<&'a str>,
    /// What [`crate::fields::via_param`] reads: the first parameter named `branch`,
    /// `Some("")` without a value. (Its sent-by is always there in this form.)
    pub(crate) text_branch: Option<&'a str>,
}

/// For a Via value in the plain form nearly every element sends —
/// `SIP/2.0/TRANSPORT host[:port](;name[=value])*` with an ASCII domain or IPv4 host, a
/// known transport other than in a `transport=`/`method=` parameter, and token characters
/// only in parameters — the branch rsip's typed parse reads (the first `branch` with a
/// value), without running that parse, and the one [`crate::fields::via_param`] reads.
/// `None` for any other value, which then goes through rsip.
///
/// Why rsip accepts every such value (vendor/rsip, `ViaTokenizer`): the version is
/// `SIP/` digits `.` digits; the transport is everything up to the first SP, and these
/// names are the ones `Transport` knows; the URI has no scheme (a host spelled `sip`,
/// `sips` or `tel`, which with a port would read as one, is left to rsip, and no `://`
/// can occur), no userinfo (no `@`), a host up to `;` that is an IP address or else a
/// domain, and a port that fits a u16; each parameter is `;` token [`=` token], and only
/// `transport` and `method` values are checked when converted. The fuzz target compares
/// this with rsip on every line it is given.
pub(crate) fn simple_via(value: &str) -> Option<PlainVia<'_>> {
    const TRANSPORTS: [&str; 6] = ["UDP", "TCP", "TLS", "SCTP", "WS", "WSS"];
    let find = |s: &str, c: u8| s.bytes().position(|b| b == c);
    let rest = value.strip_prefix("SIP/2.0/")?;
    let sp = find(rest, b' ')?;
    let transport = &rest[..sp];
    if !TRANSPORTS.iter().any(|t| t.eq_ignore_ascii_case(transport)) {
        return None;
    }
    let rest = &rest[sp + 1..];
    let host_port_end = find(rest, b';').unwrap_or(rest.len());
    let host_port = &rest[..host_port_end];
    let (host, port) = match find(host_port, b':') {
        Some(i) => (&host_port[..i], Some(&host_port[i + 1..])),
        None => (host_port, None),
    };
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        || ["sip", "sips", "tel"]
            .iter()
            .any(|s| s.eq_ignore_ascii_case(host))
    {
        return None;
    }
    if port.is_some_and(|p| {
        p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u16>().is_err()
    }) {
        return None;
    }
    let is_token_str = |s: &str| !s.is_empty() && s.bytes().all(is_token_byte);
    let mut params = &rest[host_port_end..];
    let mut via = PlainVia {
        rsip_branch: None,
        text_branch: None,
    };
    while let Some(p) = params.strip_prefix(';') {
        let end = find(p, b';').unwrap_or(p.len());
        let (param, next) = p.split_at(end);
        params = next;
        let (name, v) = match find(param, b'=') {
            Some(i) => (&param[..i], Some(&param[i + 1..])),
            None => (param, None),
        };
        if !is_token_str(name)
            || v.is_some_and(|v| !is_token_str(v))
            || name.eq_ignore_ascii_case("transport")
            || name.eq_ignore_ascii_case("method")
        {
            return None;
        }
        if name.eq_ignore_ascii_case("branch") {
            if via.text_branch.is_none() {
                via.text_branch = Some(v.unwrap_or(""));
            }
            if via.rsip_branch.is_none() {
                via.rsip_branch = v;
            }
        }
    }
    Some(via)
}

/// The Request-URI must be a SIP(S) or tel URI as rsip read it.
fn check_request_uri_scheme(uri: &rsip::Uri) -> Result<(), ParseError> {
    match uri_problem(uri) {
        Some(UriProblem::Scheme) => Err(ParseError::UnsupportedUriScheme),
        Some(UriProblem::Misread) => Err(ParseError::Unparseable {
            reason: "Request-URI",
        }),
        None => Ok(()),
    }
}

/// What is wrong with a URI rsip did parse.
enum UriProblem {
    /// Not `sip:`, `sips:` or `tel:`.
    Scheme,
    /// An `@` ended up in the host: rsip did not see the userinfo (the pre-pass escapes the
    /// dots that cause this in well-formed user parts; what is left is malformed).
    Misread,
}

fn uri_problem(uri: &rsip::Uri) -> Option<UriProblem> {
    match uri.scheme {
        Some(rsip::Scheme::Sip | rsip::Scheme::Sips | rsip::Scheme::Tel) => {}
        _ => return Some(UriProblem::Scheme),
    }
    if let rsip::Host::Domain(d) = &uri.host_with_port.host
        && displays_char(d, '@')
    {
        return Some(UriProblem::Misread);
    }
    None
}

/// Whether `value`'s `Display` output contains `c`, without building the string.
fn displays_char(value: &impl std::fmt::Display, c: char) -> bool {
    struct Find(char, bool);
    impl std::fmt::Write for Find {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            if s.contains(self.0) {
                self.1 = true;
                // Found: stop the formatting.
                return Err(std::fmt::Error);
            }
            Ok(())
        }
    }
    let mut find = Find(c, false);
    let _ = std::fmt::write(&mut find, format_args!("{value}"));
    find.1
}

/// Whether a URI is `sip:`, `sips:` or `tel:`, the schemes our rsip parses (any other
/// either fails or is read as a host and port: `mailto:a@b`).
fn is_sip_scheme(uri: &str) -> bool {
    let scheme = uri.split_once(':').map_or("", |(s, _)| s);
    ["sip", "sips", "tel"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(scheme))
}

/// Whether a serialized From/To header (`From: "x" <sip:..>;tag=1`) carries a SIP(S) URI.
fn name_addr_has_sip_scheme(header: &str) -> bool {
    let value = header.split_once(':').map_or("", |(_, v)| v.trim_start());
    // Quote-aware: a '<' inside a quoted display name does not start the URI.
    header_uri(value).is_some_and(|(start, end)| is_sip_scheme(value[start..end].trim_start()))
}

/// `CSeq: 1*DIGIT LWS Method`, number below 2^32 (RFC 3261 §20.16).
fn parse_cseq(value: &str) -> Result<(u32, &str), ParseError> {
    let mut it = value.split([' ', '\t']).filter(|s| !s.is_empty());
    let (Some(num), Some(method), None) = (it.next(), it.next(), it.next()) else {
        return Err(ParseError::BadCSeq);
    };
    let seq = parse_decimal(num, 10)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or(ParseError::BadCSeq)?;
    if !is_token(method) {
        return Err(ParseError::BadCSeq);
    }
    Ok((seq, method))
}

/// A decimal number of at most `max_digits` significant digits (leading zeros allowed,
/// as RFC 4475 §3.1.1.1 uses them); `None` for anything else, including a sign.
pub(crate) fn parse_decimal(s: &str, max_digits: usize) -> Option<usize> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sig = s.trim_start_matches('0');
    if sig.len() > max_digits {
        return None;
    }
    if sig.is_empty() {
        return Some(0);
    }
    sig.parse().ok()
}

fn parse_start_line(line: &str) -> Result<StartLine<'_>, ParseError> {
    if let Some(rest) = line.strip_prefix("SIP/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let (version, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if version != "2.0" {
            return Err(ParseError::UnsupportedVersion);
        }
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::BadStartLine {
                reason: "status code",
            });
        }
        let code: u16 = code.parse().map_err(|_| ParseError::BadStartLine {
            reason: "status code",
        })?;
        if !(100..=699).contains(&code) {
            return Err(ParseError::BadStartLine {
                reason: "status code",
            });
        }
        if reason.contains('\0') {
            return Err(ParseError::BadStartLine {
                reason: "reason phrase",
            });
        }
        return Ok(StartLine::Response { code, reason });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version: exactly two single spaces
    // (RFC 4475 §3.1.2.8-10: extra or trailing SP, or LWS inside the URI, are rejected).
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::BadStartLine {
            reason: "not METHOD SP URI SP VERSION",
        });
    };
    if !is_token(method) {
        return Err(ParseError::BadStartLine { reason: "method" });
    }
    if version != "SIP/2.0" {
        return Err(if version.starts_with("SIP/") {
            ParseError::UnsupportedVersion
        } else {
            ParseError::BadStartLine { reason: "version" }
        });
    }
    check_request_uri(uri)?;
    Ok(StartLine::Request { method, uri })
}

fn check_request_uri(uri: &str) -> Result<(), ParseError> {
    let bad = |reason| Err(ParseError::BadStartLine { reason });
    if uri.starts_with('<') {
        return bad("Request-URI enclosed in <>");
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return bad("Request-URI has no scheme");
    };
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return bad("Request-URI scheme");
    }
    if uri
        .bytes()
        .any(|b| b.is_ascii_control() || b == b'<' || b == b'>' || b == b'"')
    {
        return bad("Request-URI characters");
    }
    if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
        // Headers (`?h=v`) are not allowed in a Request-URI (RFC 3261 §19.1.5, RFC 4475
        // §3.1.2.11). A '?' may legally appear in the userinfo, so look after the '@'.
        let host_part = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        if host_part.contains('?') {
            return bad("headers in Request-URI");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_rules() {
        assert_eq!(parse_decimal("0068", 3), Some(68));
        assert_eq!(parse_decimal("0", 3), Some(0));
        assert_eq!(parse_decimal("000", 3), Some(0));
        assert_eq!(parse_decimal("-1", 3), None);
        assert_eq!(parse_decimal("+1", 3), None);
        assert_eq!(parse_decimal("1000", 3), None);
        assert_eq!(parse_decimal("", 3), None);
        assert_eq!(parse_decimal("99999999999999999999999", 10), None);
    }

    #[test]
    fn plain_vias_are_read_as_rsip_reads_them() {
        use rsip::prelude::{ToTypedHeader as _, UntypedHeader as _};
        for (value, branch) in [
            (
                "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport",
                Some("z9hG4bK1"),
            ),
            ("SIP/2.0/tls host.example.com;received=192.0.2.9", None),
            ("SIP/2.0/WSS h;Branch=x;branch=y", Some("x")),
            ("SIP/2.0/TCP h:060;rport;branch;branch=z", Some("z")),
        ] {
            assert_eq!(
                simple_via(value).map(|v| v.rsip_branch),
                Some(branch),
                "{value}"
            );
            let typed = rsip::headers::Via::new(value).typed().unwrap();
            assert_eq!(typed.branch().map(|b| b.value()), branch, "{value}");
            let plain = simple_via(value).unwrap();
            assert_eq!(
                plain.text_branch,
                crate::fields::via_param(value, "branch"),
                "{value}"
            );
        }
        // Left to rsip: anything outside the plain form.
        for value in [
            "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1",
            "SIP/2.0/UDP sip:5060;branch=z9hG4bK1",
            "SIP/2.0/UDP h:70000;branch=z9hG4bK1",
            "SIP/2.0/UDP h;transport=udp",
            "SIP/2.0/UDP h;branch=",
            "SIP/2.0/UDP h;branch=\"x\"",
            "SIP/2.0/UDP h ;branch=x",
            "SIP/2.0/XYZ h",
            "SIP/2.0/UDP u@h",
            "SIP/3.0/UDP h",
        ] {
            assert!(simple_via(value).is_none(), "{value}");
        }
    }

    #[test]
    fn classify_knows_every_name_in_any_case() {
        for (name, kind) in [
            ("via", Kind::Via),
            ("ROUTE", Kind::RouteList),
            ("Record-Route", Kind::RouteList),
            ("contact", Kind::Contact),
            ("From", Kind::NameAddr(Single::From)),
            ("tO", Kind::NameAddr(Single::To)),
            ("Reply-To", Kind::NameAddr(Single::Other)),
            ("refer-to", Kind::NameAddr(Single::Other)),
            ("Referred-By", Kind::NameAddr(Single::Other)),
            ("call-id", Kind::CallId),
            ("cseq", Kind::CSeq),
            ("Max-Forwards", Kind::MaxForwards),
            ("content-length", Kind::ContentLength),
            ("Content-Type", Kind::ContentType),
            ("Subject", Kind::Other),
            ("Vias", Kind::Other),
            ("", Kind::Other),
        ] {
            assert!(classify(name) == kind, "{name}");
        }
    }

    #[test]
    fn cseq_rules() {
        assert_eq!(parse_cseq("0009  INVITE").unwrap(), (9, "INVITE"));
        assert_eq!(parse_cseq("4294967295 ACK").unwrap(), (u32::MAX, "ACK"));
        assert_eq!(parse_cseq("4294967296 ACK"), Err(ParseError::BadCSeq));
        assert_eq!(parse_cseq("1"), Err(ParseError::BadCSeq));
        assert_eq!(parse_cseq("1 INVITE x"), Err(ParseError::BadCSeq));
        assert_eq!(parse_cseq("x INVITE"), Err(ParseError::BadCSeq));
    }
}
