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

            // drawbridge patch: one lookup on the lower-cased name instead of up to 45
            // `eq_ignore_ascii_case` tests in a row (same names, same result: a name
            // equal to one of them ignoring ASCII case maps to it, anything else is
            // `Other`). No known name is longer than the buffer.
            let mut buf = [0u8; 19];
            let name = tokenizer.name;
            let lower = match buf.get_mut(..name.len()) {
                Some(b) => {
                    b.copy_from_slice(name.as_bytes());
                    b.make_ascii_lowercase();
                    std::str::from_utf8(b).unwrap_or("")
                }
                None => "",
            };
            let value = tokenizer.value;
            match lower {
                "accept" => Ok(Header::Accept(Accept::new(value))),
                "accept-encoding" => Ok(Header::AcceptEncoding(AcceptEncoding::new(value))),
                "accept-language" => Ok(Header::AcceptLanguage(AcceptLanguage::new(value))),
                "alert-info" => Ok(Header::AlertInfo(AlertInfo::new(value))),
                "allow" => Ok(Header::Allow(Allow::new(value))),
                "authentication-info" => Ok(Header::AuthenticationInfo(AuthenticationInfo::new(value))),
                "authorization" => Ok(Header::Authorization(Authorization::new(value))),
                "cseq" => Ok(Header::CSeq(CSeq::new(value))),
                "call-id" => Ok(Header::CallId(CallId::new(value))),
                "call-info" => Ok(Header::CallInfo(CallInfo::new(value))),
                "contact" => Ok(Header::Contact(Contact::new(value))),
                "content-disposition" => Ok(Header::ContentDisposition(ContentDisposition::new(value))),
                "content-encoding" => Ok(Header::ContentEncoding(ContentEncoding::new(value))),
                "content-language" => Ok(Header::ContentLanguage(ContentLanguage::new(value))),
                "content-length" => Ok(Header::ContentLength(ContentLength::new(value))),
                "content-type" => Ok(Header::ContentType(ContentType::new(value))),
                "date" => Ok(Header::Date(Date::new(value))),
                "error-info" => Ok(Header::ErrorInfo(ErrorInfo::new(value))),
                "event" => Ok(Header::Event(Event::new(value))),
                "expires" => Ok(Header::Expires(Expires::new(value))),
                "from" => Ok(Header::From(From::new(value))),
                "in-reply-to" => Ok(Header::InReplyTo(InReplyTo::new(value))),
                "max-forwards" => Ok(Header::MaxForwards(MaxForwards::new(value))),
                "mime-version" => Ok(Header::MimeVersion(MimeVersion::new(value))),
                "min-expires" => Ok(Header::MinExpires(MinExpires::new(value))),
                "organization" => Ok(Header::Organization(Organization::new(value))),
                "priority" => Ok(Header::Priority(Priority::new(value))),
                "proxy-authenticate" => Ok(Header::ProxyAuthenticate(ProxyAuthenticate::new(value))),
                "proxy-authorization" => Ok(Header::ProxyAuthorization(ProxyAuthorization::new(value))),
                "proxy-require" => Ok(Header::ProxyRequire(ProxyRequire::new(value))),
                "record-route" => Ok(Header::RecordRoute(RecordRoute::new(value))),
                "reply-to" => Ok(Header::ReplyTo(ReplyTo::new(value))),
                "require" => Ok(Header::Require(Require::new(value))),
                "retry-after" => Ok(Header::RetryAfter(RetryAfter::new(value))),
                "route" => Ok(Header::Route(Route::new(value))),
                "server" => Ok(Header::Server(Server::new(value))),
                "subject" => Ok(Header::Subject(Subject::new(value))),
                "supported" => Ok(Header::Supported(Supported::new(value))),
                "timestamp" => Ok(Header::Timestamp(Timestamp::new(value))),
                "to" => Ok(Header::To(To::new(value))),
                "unsupported" => Ok(Header::Unsupported(Unsupported::new(value))),
                "user-agent" => Ok(Header::UserAgent(UserAgent::new(value))),
                "via" => Ok(Header::Via(Via::new(value))),
                "warning" => Ok(Header::Warning(Warning::new(value))),
                "www-authenticate" => Ok(Header::WwwAuthenticate(WwwAuthenticate::new(value))),
                _ => Ok(Header::Other(name.into(), value.into())),
            }
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
