use crate::headers::untyped::*;

#[doc(hidden)]
pub use tokenizer::Tokenizer;

/// Big enum holding in each variant every possible header defined in SIP. All variants hold an
/// [untyped](super::untyped) header which is basically a NewType around String.
///
/// In case a header is not defined in Rsip, parsing will store it in the `Other`
/// variant, which is a tuple of Strings.
/// For instance, constructing the `X-Fs-Sending-Message` header (related to SMS in SIP),
/// you can do:
/// ```
/// let x_fs_sending_message = rsip::Header::Other("X-FS-Sending-Message".into(), "f9c4adc8-9c2a-47d5-a7f1-63d20784685e".into());
/// ```
#[derive(Debug, PartialEq, Eq, Clone)]
pub enum Header {
    Accept(Accept),
    AcceptEncoding(AcceptEncoding),
    AcceptLanguage(AcceptLanguage),
    AlertInfo(AlertInfo),
    Allow(Allow),
    AuthenticationInfo(AuthenticationInfo),
    Authorization(Authorization),
    CSeq(CSeq),
    CallId(CallId),
    CallInfo(CallInfo),
    Contact(Contact),
    ContentDisposition(ContentDisposition),
    ContentEncoding(ContentEncoding),
    ContentLanguage(ContentLanguage),
    ContentLength(ContentLength),
    ContentType(ContentType),
    Date(Date),
    ErrorInfo(ErrorInfo),
    Event(Event),
    Expires(Expires),
    From(From),
    InReplyTo(InReplyTo),
    MaxForwards(MaxForwards),
    MimeVersion(MimeVersion),
    MinExpires(MinExpires),
    Organization(Organization),
    Other(String, String),
    Priority(Priority),
    ProxyAuthenticate(ProxyAuthenticate),
    ProxyAuthorization(ProxyAuthorization),
    ProxyRequire(ProxyRequire),
    RecordRoute(RecordRoute),
    ReplyTo(ReplyTo),
    Require(Require),
    RetryAfter(RetryAfter),
    Route(Route),
    Server(Server),
    Subject(Subject),
    SubscriptionState(SubscriptionState),
    Supported(Supported),
    Timestamp(Timestamp),
    To(To),
    Unsupported(Unsupported),
    UserAgent(UserAgent),
    Via(Via),
    Warning(Warning),
    WwwAuthenticate(WwwAuthenticate),
}

impl std::fmt::Display for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Accept(inner) => write!(f, "{}", inner),
            Self::AcceptEncoding(inner) => write!(f, "{}", inner),
            Self::AcceptLanguage(inner) => write!(f, "{}", inner),
            Self::AlertInfo(inner) => write!(f, "{}", inner),
            Self::Allow(inner) => write!(f, "{}", inner),
            Self::AuthenticationInfo(inner) => write!(f, "{}", inner),
            Self::Authorization(inner) => write!(f, "{}", inner),
            Self::CSeq(inner) => write!(f, "{}", inner),
            Self::CallId(inner) => write!(f, "{}", inner),
            Self::CallInfo(inner) => write!(f, "{}", inner),
            Self::Contact(inner) => write!(f, "{}", inner),
            Self::ContentDisposition(inner) => write!(f, "{}", inner),
            Self::ContentEncoding(inner) => write!(f, "{}", inner),
            Self::ContentLanguage(inner) => write!(f, "{}", inner),
            Self::ContentLength(inner) => write!(f, "{}", inner),
            Self::ContentType(inner) => write!(f, "{}", inner),
            Self::Date(inner) => write!(f, "{}", inner),
            Self::ErrorInfo(inner) => write!(f, "{}", inner),
            Self::Event(inner) => write!(f, "{}", inner),
            Self::Expires(inner) => write!(f, "{}", inner),
            Self::From(inner) => write!(f, "{}", inner),
            Self::InReplyTo(inner) => write!(f, "{}", inner),
            Self::MaxForwards(inner) => write!(f, "{}", inner),
            Self::MimeVersion(inner) => write!(f, "{}", inner),
            Self::MinExpires(inner) => write!(f, "{}", inner),
            Self::Organization(inner) => write!(f, "{}", inner),
            Self::Other(key, value) => write!(f, "{}: {}", key, value),
            Self::Priority(inner) => write!(f, "{}", inner),
            Self::ProxyAuthenticate(inner) => write!(f, "{}", inner),
            Self::ProxyAuthorization(inner) => write!(f, "{}", inner),
            Self::ProxyRequire(inner) => write!(f, "{}", inner),
            Self::RecordRoute(inner) => write!(f, "{}", inner),
            Self::ReplyTo(inner) => write!(f, "{}", inner),
            Self::Require(inner) => write!(f, "{}", inner),
            Self::RetryAfter(inner) => write!(f, "{}", inner),
            Self::Route(inner) => write!(f, "{}", inner),
            Self::Server(inner) => write!(f, "{}", inner),
            Self::Subject(inner) => write!(f, "{}", inner),
            Self::SubscriptionState(inner) => write!(f, "{}", inner),
            Self::Supported(inner) => write!(f, "{}", inner),
            Self::Timestamp(inner) => write!(f, "{}", inner),
            Self::To(inner) => write!(f, "{}", inner),
            Self::Unsupported(inner) => write!(f, "{}", inner),
            Self::UserAgent(inner) => write!(f, "{}", inner),
            Self::Via(inner) => write!(f, "{}", inner),
            Self::Warning(inner) => write!(f, "{}", inner),
            Self::WwwAuthenticate(inner) => write!(f, "{}", inner),
        }
    }
}

#[doc(hidden)]
pub mod tokenizer {
    use super::*;
    use crate::{Error, IResult, TokenizerError};
    use rsip_derives::Utf8Tokenizer;
    use std::convert::TryInto;

    impl<'a> TryInto<Header> for Tokenizer<'a> {
        type Error = Error;

        fn try_into(self) -> Result<Header, Error> {
            let tokenizer: Utf8Tokenizer = self.try_into()?;

            // drawbridge patch: the name is matched by length first, then against the
            // few known names of that length (same names in the same order, same
            // result), instead of up to 45 `eq_ignore_ascii_case` tests in a row.
            let name = tokenizer.name;
            let value = tokenizer.value;
            let known = match name.len() {
                2 => match name {
                    s if s.eq_ignore_ascii_case("To") => Some(Header::To(To::new(value))),
                    _ => None,
                },
                3 => match name {
                    s if s.eq_ignore_ascii_case("Via") => Some(Header::Via(Via::new(value))),
                    _ => None,
                },
                4 => match name {
                    s if s.eq_ignore_ascii_case("CSeq") => Some(Header::CSeq(CSeq::new(value))),
                    s if s.eq_ignore_ascii_case("Date") => Some(Header::Date(Date::new(value))),
                    s if s.eq_ignore_ascii_case("From") => Some(Header::From(From::new(value))),
                    _ => None,
                },
                5 => match name {
                    s if s.eq_ignore_ascii_case("Allow") => Some(Header::Allow(Allow::new(value))),
                    s if s.eq_ignore_ascii_case("Event") => Some(Header::Event(Event::new(value))),
                    s if s.eq_ignore_ascii_case("Route") => Some(Header::Route(Route::new(value))),
                    _ => None,
                },
                6 => match name {
                    s if s.eq_ignore_ascii_case("Accept") => Some(Header::Accept(Accept::new(value))),
                    s if s.eq_ignore_ascii_case("Server") => Some(Header::Server(Server::new(value))),
                    _ => None,
                },
                7 => match name {
                    s if s.eq_ignore_ascii_case("Call-Id") => Some(Header::CallId(CallId::new(value))),
                    s if s.eq_ignore_ascii_case("Contact") => Some(Header::Contact(Contact::new(value))),
                    s if s.eq_ignore_ascii_case("Expires") => Some(Header::Expires(Expires::new(value))),
                    s if s.eq_ignore_ascii_case("Require") => Some(Header::Require(Require::new(value))),
                    s if s.eq_ignore_ascii_case("Subject") => Some(Header::Subject(Subject::new(value))),
                    s if s.eq_ignore_ascii_case("Warning") => Some(Header::Warning(Warning::new(value))),
                    _ => None,
                },
                8 => match name {
                    s if s.eq_ignore_ascii_case("Priority") => Some(Header::Priority(Priority::new(value))),
                    s if s.eq_ignore_ascii_case("Reply-To") => Some(Header::ReplyTo(ReplyTo::new(value))),
                    _ => None,
                },
                9 => match name {
                    s if s.eq_ignore_ascii_case("Call-Info") => Some(Header::CallInfo(CallInfo::new(value))),
                    s if s.eq_ignore_ascii_case("Supported") => Some(Header::Supported(Supported::new(value))),
                    s if s.eq_ignore_ascii_case("Timestamp") => Some(Header::Timestamp(Timestamp::new(value))),
                    _ => None,
                },
                10 => match name {
                    s if s.eq_ignore_ascii_case("Alert-Info") => Some(Header::AlertInfo(AlertInfo::new(value))),
                    s if s.eq_ignore_ascii_case("Error-Info") => Some(Header::ErrorInfo(ErrorInfo::new(value))),
                    s if s.eq_ignore_ascii_case("User-Agent") => Some(Header::UserAgent(UserAgent::new(value))),
                    _ => None,
                },
                11 => match name {
                    s if s.eq_ignore_ascii_case("In-Reply-To") => Some(Header::InReplyTo(InReplyTo::new(value))),
                    s if s.eq_ignore_ascii_case("Min-Expires") => Some(Header::MinExpires(MinExpires::new(value))),
                    s if s.eq_ignore_ascii_case("Retry-After") => Some(Header::RetryAfter(RetryAfter::new(value))),
                    s if s.eq_ignore_ascii_case("Unsupported") => Some(Header::Unsupported(Unsupported::new(value))),
                    _ => None,
                },
                12 => match name {
                    s if s.eq_ignore_ascii_case("Content-Type") => Some(Header::ContentType(ContentType::new(value))),
                    s if s.eq_ignore_ascii_case("Max-Forwards") => Some(Header::MaxForwards(MaxForwards::new(value))),
                    s if s.eq_ignore_ascii_case("Mime-Version") => Some(Header::MimeVersion(MimeVersion::new(value))),
                    s if s.eq_ignore_ascii_case("Organization") => Some(Header::Organization(Organization::new(value))),
                    s if s.eq_ignore_ascii_case("Record-Route") => Some(Header::RecordRoute(RecordRoute::new(value))),
                    _ => None,
                },
                13 => match name {
                    s if s.eq_ignore_ascii_case("Authorization") => Some(Header::Authorization(Authorization::new(value))),
                    s if s.eq_ignore_ascii_case("Proxy-Require") => Some(Header::ProxyRequire(ProxyRequire::new(value))),
                    _ => None,
                },
                14 => match name {
                    s if s.eq_ignore_ascii_case("Content-Length") => Some(Header::ContentLength(ContentLength::new(value))),
                    _ => None,
                },
                15 => match name {
                    s if s.eq_ignore_ascii_case("Accept-Encoding") => Some(Header::AcceptEncoding(AcceptEncoding::new(value))),
                    s if s.eq_ignore_ascii_case("Accept-Language") => Some(Header::AcceptLanguage(AcceptLanguage::new(value))),
                    _ => None,
                },
                16 => match name {
                    s if s.eq_ignore_ascii_case("Content-Encoding") => Some(Header::ContentEncoding(ContentEncoding::new(value))),
                    s if s.eq_ignore_ascii_case("Content-Language") => Some(Header::ContentLanguage(ContentLanguage::new(value))),
                    s if s.eq_ignore_ascii_case("WWW-Authenticate") => Some(Header::WwwAuthenticate(WwwAuthenticate::new(value))),
                    _ => None,
                },
                18 => match name {
                    s if s.eq_ignore_ascii_case("Proxy-Authenticate") => Some(Header::ProxyAuthenticate(ProxyAuthenticate::new(value))),
                    _ => None,
                },
                19 => match name {
                    s if s.eq_ignore_ascii_case("Authentication-Info") => Some(Header::AuthenticationInfo(AuthenticationInfo::new(value))),
                    s if s.eq_ignore_ascii_case("Content-Disposition") => Some(Header::ContentDisposition(ContentDisposition::new(value))),
                    s if s.eq_ignore_ascii_case("Proxy-Authorization") => Some(Header::ProxyAuthorization(ProxyAuthorization::new(value))),
                    _ => None,
                },
                _ => None,
            };
            Ok(known.unwrap_or_else(|| Header::Other(name.into(), value.into())))
        }
    }

    #[derive(Debug, PartialEq, Eq, Utf8Tokenizer)]
    pub struct Tokenizer<'a> {
        pub name: &'a [u8],
        pub value: &'a [u8],
    }

    impl<'a> Tokenizer<'a> {
        pub fn tokenize(part: &'a [u8]) -> IResult<Self> {
            // drawbridge patch: the nom grammar `take_while1(is_token) ":" space0
            // (take_until("\r\n") "\r\n" | rest)` written out by hand (same accepted
            // input, same split): it ran once per header of every message.
            let name_len = part
                .iter()
                .position(|&c| !crate::parser_utils::is_token(c))
                .unwrap_or(part.len());
            if name_len == 0 || part.get(name_len) != Some(&b':') {
                return Err(TokenizerError::from(("header", part)).into());
            }
            let mut start = name_len + 1;
            while matches!(part.get(start), Some(b' ') | Some(b'\t')) {
                start += 1;
            }
            let rest = &part[start..];
            let mut from = 0;
            let crlf = loop {
                match rest[from..].iter().position(|&c| c == b'\r') {
                    Some(i) if rest.get(from + i + 1) == Some(&b'\n') => break Some(from + i),
                    Some(i) => from += i + 1,
                    None => break None,
                }
            };
            let (value, rem) = match crlf {
                Some(i) => (&rest[..i], &rest[i + 2..]),
                None => (rest, &rest[rest.len()..]),
            };
            Ok((rem, (&part[..name_len], value).into()))
        }
    }

    impl<'a> std::convert::From<(&'a [u8], &'a [u8])> for Tokenizer<'a> {
        fn from(tuple: (&'a [u8], &'a [u8])) -> Self {
            Self {
                name: tuple.0,
                value: tuple.1,
            }
        }
    }
}
