use std::{error::Error as StdError, fmt};

// drawbridge patch: nom builds an error for every alternative it tries and throws most
// away, so building one must be cheap. The context quotes at most `QUOTE` bytes of the
// input (it used to format the whole rest of the message, lossily, every time), and
// nom's own errors (`from_error_kind`, `append`, `from_char`, `or`) keep their first
// description instead of growing a nested dump.
const QUOTE: usize = 32;

fn quote<'a>(input: impl Into<&'a bstr::BStr>) -> &'a bstr::BStr {
    let input: &bstr::BStr = input.into();
    let bytes: &[u8] = input.as_ref();
    bytes[..bytes.len().min(QUOTE)].into()
}

#[derive(Debug, Eq, PartialEq, Clone)]
pub struct TokenizerError {
    pub context: String,
}

impl<'a, S, T> From<(S, T)> for TokenizerError
where
    S: Into<String>,
    T: Into<&'a bstr::BStr>,
{
    fn from(from: (S, T)) -> Self {
        Self {
            context: format!("failed to tokenize {}: {}", from.0.into(), quote(from.1)),
        }
    }
}

impl From<&'static str> for TokenizerError {
    fn from(from: &'static str) -> Self {
        Self {
            context: from.into(),
        }
    }
}

#[allow(clippy::from_over_into)]
impl Into<nom::Err<Self>> for TokenizerError {
    fn into(self) -> nom::Err<Self> {
        nom::Err::Error(self)
    }
}

#[allow(clippy::from_over_into)]
impl<'a, T> Into<crate::IResult<'a, T>> for TokenizerError {
    fn into(self) -> crate::IResult<'a, T> {
        Err(nom::Err::Error(self))
    }
}

impl fmt::Display for TokenizerError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Tokenizer error: {}", self.context)
    }
}

impl StdError for TokenizerError {}

impl<'a, T: Into<&'a bstr::BStr>> nom::error::ParseError<T> for TokenizerError {
    fn from_error_kind(input: T, kind: nom::error::ErrorKind) -> Self {
        Self {
            context: format!("could not tokenize ({:?}): {}", kind, quote(input)),
        }
    }
    fn append(_input: T, _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }

    fn from_char(input: T, c: char) -> Self {
        Self {
            context: format!("was expecting char {} in: {}", c, quote(input)),
        }
    }

    fn or(self, other: Self) -> Self {
        other
    }
}
