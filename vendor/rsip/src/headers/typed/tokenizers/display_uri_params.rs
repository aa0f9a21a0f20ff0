use crate::{common::uri, headers::typed::Tokenize, Error};

#[derive(Eq, PartialEq, Clone, Debug)]
pub struct DisplayUriParamsTokenizer<'a> {
    pub display_name: Option<&'a str>,
    pub uri: uri::Tokenizer<'a, &'a str, char>,
    pub params: Vec<uri::param::Tokenizer<'a, &'a str, char>>,
}

impl<'a> Tokenize<'a> for DisplayUriParamsTokenizer<'a> {
    fn tokenize(part: &'a str) -> Result<Self, Error> {
        use crate::parser_utils::is_empty_or_fail_with;
        use nom::{
            bytes::complete::{tag, take_until},
            combinator::rest,
            error::Error as QuietError,
            multi::many0,
            sequence::tuple,
        };

        // drawbridge patch: a `<` inside a quoted display name (`"a <b>" <sip:..>`) or a
        // quoted parameter value (`sip:a@b;x="<y>"`) does not start the URI.
        if let Some(open) = angle_outside_quotes(part) {
            let (display_name, after) = part.split_at(open);
            let (_, (_, uri, _, params)) = tuple::<_, _, QuietError<&str>, _>((
                tag("<"),
                take_until(">"),
                tag(">"),
                rest,
            ))(after)
            .map_err(|_| Error::tokenizer(("header parts", part)))?;

            let (rem, params) = many0(uri::param::Tokenizer::tokenize)(params)
                .map_err(|_| Error::tokenizer(("params", part)))?;
            is_empty_or_fail_with(rem, ("params tokenizing left trailing input", part))?;

            Ok(Self {
                display_name: crate::utils::opt_trim(display_name),
                uri: uri::Tokenizer::tokenize(uri)
                    .map_err(|_| Error::tokenizer(("URI in addr-spec", part)))?
                    .1,
                params,
            })
        } else {
            let (_, (uri, params)) = tuple((
                uri::Tokenizer::tokenize_without_params,
                many0(uri::param::Tokenizer::tokenize),
            ))(part)?;

            Ok(Self {
                display_name: None,
                uri,
                params,
            })
        }
    }
}

/// drawbridge patch: byte offset of the first `<` outside a quoted-string (RFC 3261
/// quoted-pair escapes understood).
fn angle_outside_quotes(part: &str) -> Option<usize> {
    let mut in_quote = false;
    let mut escaped = false;
    for (i, b) in part.bytes().enumerate() {
        if in_quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quote = false;
            }
        } else if b == b'"' {
            in_quote = true;
        } else if b == b'<' {
            return Some(i);
        }
    }
    None
}
