use std::{borrow::Cow, error::Error as StdError, fmt};

// drawbridge patch: nom builds an error for every alternative it tries (the end of every
// `many0`, every `opt` that finds nothing) and throws almost all of them away, so building
// one must cost nothing. The error keeps what it needs to be rendered (a static label, nom's
// kind, at most `QUOTE` bytes of the input, copied inline) and formats only when displayed;
// it used to format the whole rest of the message through `from_utf8_lossy` every time.
// nom's `append`/`or` keep one error instead of nesting them. The rendered text is what it
// was, except that the input is quoted up to `QUOTE` bytes.
const QUOTE: usize = 32;

/// Up to `QUOTE` bytes of the input an error was found at, stored inline.
#[derive(Clone, Copy)]
struct Quote {
    bytes: [u8; QUOTE],
    len: u8,
}

impl Quote {
    fn of<'a>(input: impl Into<&'a bstr::BStr>) -> Self {
        let input: &bstr::BStr = input.into();
        let input: &[u8] = input.as_ref();
        let len = input.len().min(QUOTE);
        let mut bytes = [0u8; QUOTE];
        bytes[..len].copy_from_slice(&input[..len]);
        Self {
            bytes,
            len: len as u8,
        }
    }
}

impl fmt::Display for Quote {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let s: &bstr::BStr = self.bytes[..usize::from(self.len)].into();
        fmt::Display::fmt(s, f)
    }
}

#[derive(Clone)]
enum Repr {
    Message(Cow<'static, str>),
    Tokenize(Cow<'static, str>, Quote),
    Kind(nom::error::ErrorKind, Quote),
    Char(char, Quote),
}

#[derive(Clone)]
pub struct TokenizerError {
    repr: Repr,
}

impl TokenizerError {
    /// What went wrong, as text (rendered now).
    pub fn context(&self) -> String {
        match &self.repr {
            Repr::Message(m) => m.to_string(),
            Repr::Tokenize(what, q) => format!("failed to tokenize {}: {}", what, q),
            Repr::Kind(kind, q) => format!("could not tokenize ({:?}): {}", kind, q),
            Repr::Char(c, q) => format!("was expecting char {} in: {}", c, q),
        }
    }
}

impl fmt::Debug for TokenizerError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_struct("TokenizerError")
            .field("context", &self.context())
            .finish()
    }
}

impl PartialEq for TokenizerError {
    fn eq(&self, other: &Self) -> bool {
        self.context() == other.context()
    }
}

impl Eq for TokenizerError {}

impl<'a, S, T> From<(S, T)> for TokenizerError
where
    S: Into<Cow<'static, str>>,
    T: Into<&'a bstr::BStr>,
{
    fn from(from: (S, T)) -> Self {
        Self {
            repr: Repr::Tokenize(from.0.into(), Quote::of(from.1)),
        }
    }
}

impl From<&'static str> for TokenizerError {
    fn from(from: &'static str) -> Self {
        Self {
            repr: Repr::Message(Cow::Borrowed(from)),
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
        write!(f, "Tokenizer error: {}", self.context())
    }
}

impl StdError for TokenizerError {}

impl<'a, T: Into<&'a bstr::BStr>> nom::error::ParseError<T> for TokenizerError {
    fn from_error_kind(input: T, kind: nom::error::ErrorKind) -> Self {
        Self {
            repr: Repr::Kind(kind, Quote::of(input)),
        }
    }
    fn append(_input: T, _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }

    fn from_char(input: T, c: char) -> Self {
        Self {
            repr: Repr::Char(c, Quote::of(input)),
        }
    }

    fn or(self, other: Self) -> Self {
        other
    }
}
