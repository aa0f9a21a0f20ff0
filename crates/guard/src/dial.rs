//! Dial policy: which numbers may be called through a trunk (the toll-fraud gate).
//!
//! A dialled string is first normalised to one canonical form, then judged; anything the
//! normaliser cannot turn into a plain number is refused (fail closed). The tricks this
//! defends against, each with a test: `sip:+1900…@`, percent-encoding (`%2B1900`), visual
//! separators (`+1 (900) 555-0100`), `00` instead of `+`, a local number carrying the
//! country in `;phone-context=+1`, service codes (`*67+1900…`, `#31#`), NANP `1-900`
//! without `+`, and full-width or other non-ASCII digits.

use drawbridge_config::DialPolicy;

use crate::error::GuardError;

/// Longest input the normaliser looks at, in bytes; longer is refused.
pub const MAX_INPUT_LEN: usize = 256;
/// Most digits in a number (E.164 allows 15; national dialling plans add a few).
pub const MAX_DIGITS: usize = 20;

/// Why a dialled string is not a number the policy can judge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NumberError {
    /// Nothing left after removing separators.
    #[error("no digits")]
    Empty,
    /// Longer than [`MAX_INPUT_LEN`] bytes or [`MAX_DIGITS`] digits.
    #[error("longer than a phone number can be")]
    TooLong,
    /// A `sip:`/`sips:` URI without a user part.
    #[error("the URI has no user part")]
    NoUserPart,
    /// A `%` not followed by two hex digits.
    #[error("bad percent-encoding")]
    BadEscape,
    /// `*` or `#`: a service code, which the trunk may interpret (caller-ID suppression,
    /// call forwarding). Service codes belong to the PBX, never to the trunk.
    #[error("contains the service code character {0:?}")]
    ServiceCode(char),
    /// A character that is neither a digit, a visual separator nor a leading `+`.
    #[error("contains {0:?}, which is not part of a phone number")]
    InvalidChar(char),
    /// `+0…`: no country code starts with 0.
    #[error("+ followed by 0 is not a country code")]
    BadCountryCode,
}

/// A normalised number: ASCII digits, with a leading `+` when it is global (E.164).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number(String);

impl Number {
    /// The number as text: `+19005550100` or `0301234567`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it is a global (E.164) number.
    pub fn is_global(&self) -> bool {
        self.0.starts_with('+')
    }
}

/// Turns a dialled string into a [`Number`]: a Request-URI (`sip:`, `sips:`, `tel:`), or
/// its user part alone.
///
/// Steps, in this order: cut at `@` (SIP URIs), split off `;` parameters, percent-decode,
/// drop the visual separators `-` `.` `(` `)` and space, `00` → `+`, and a local number
/// with a global `;phone-context=+CC…` becomes `+CC…number` (that is how gateways route
/// it). `international_prefixes` are additional prefixes that mean `+` (e.g. `011` in
/// North America); `00` always does.
pub fn normalise(input: &str, international_prefixes: &[String]) -> Result<Number, NumberError> {
    if input.len() > MAX_INPUT_LEN {
        return Err(NumberError::TooLong);
    }
    let s = input.trim();
    let user =
        if let Some(rest) = strip_prefix_ci(s, "sip:").or_else(|| strip_prefix_ci(s, "sips:")) {
            // RFC 3261: the user part ends at the first unescaped '@'; '@' cannot be escaped
            // into it meaningfully, so the first one is the end.
            match rest.split_once('@') {
                Some((user, _host)) => user,
                None => return Err(NumberError::NoUserPart),
            }
        } else if let Some(rest) = strip_prefix_ci(s, "tel:") {
            rest
        } else {
            s
        };
    // Parameters: RFC 3966 (tel) and RFC 3261 user-unreserved ';' in a SIP user part.
    let mut parts = user.split(';');
    let number_part = parts.next().unwrap_or_default();
    let mut context = None;
    for param in parts {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        if name.trim().eq_ignore_ascii_case("phone-context") {
            context = Some(value);
        }
    }
    let mut number = digits_of(number_part)?;
    // 00 (or a configured international prefix) means +.
    if !number.starts_with('+') {
        let intl = international_prefixes
            .iter()
            .map(String::as_str)
            .chain(["00"])
            .filter(|p| !p.is_empty() && number.starts_with(p))
            .max_by_key(|p| p.len());
        if let Some(p) = intl {
            number.replace_range(..p.len(), "+");
        }
    }
    if !number.starts_with('+')
        && let Some(ctx) = context
    {
        // A domain-name context (`;phone-context=example.com`) scopes nothing numeric:
        // the number stays local. A global-number context is prepended.
        if let Ok(ctx) = digits_of(ctx)
            && ctx.starts_with('+')
        {
            number.insert_str(0, &ctx);
        }
    }
    let digits = number.strip_prefix('+').unwrap_or(&number);
    if digits.is_empty() {
        return Err(NumberError::Empty);
    }
    if digits.len() > MAX_DIGITS {
        return Err(NumberError::TooLong);
    }
    if number.starts_with("+0") {
        return Err(NumberError::BadCountryCode);
    }
    Ok(Number(number))
}

/// Percent-decodes `s` and keeps digits and one leading `+`, dropping visual separators.
fn digits_of(s: &str) -> Result<String, NumberError> {
    let bytes = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let mut decoded = Vec::with_capacity(bytes.len());
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = |b: u8| (b as char).to_digit(16);
            let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(NumberError::BadEscape);
            };
            decoded.push((h * 16 + l) as u8); // ok: two hex digits < 256
            i += 3;
        } else {
            decoded.push(b);
            i += 1;
        }
    }
    // Decoded once only: a '%' that appears now (from %25) is an invalid character,
    // not a second layer of encoding to peel.
    let text = String::from_utf8_lossy(&decoded);
    for c in text.chars() {
        match c {
            '0'..='9' => {
                if out.len() > MAX_DIGITS + 1 {
                    return Err(NumberError::TooLong);
                }
                out.push(c);
            }
            '+' if out.is_empty() => out.push('+'),
            '-' | '.' | '(' | ')' | ' ' => {}
            '*' | '#' => return Err(NumberError::ServiceCode(c)),
            other => return Err(NumberError::InvalidChar(other)),
        }
    }
    Ok(out)
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The dial policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialVerdict {
    /// The call may go to the trunk, to this normalised number.
    Allowed {
        /// The normalised number; send this, not the original string, to the trunk.
        number: Number,
    },
    /// The call must be refused.
    Denied {
        /// The normalised number, or the (sanitised) input when it could not be normalised.
        number: String,
        /// Why.
        reason: DialDenial,
    },
}

impl DialVerdict {
    /// Whether the call may go ahead.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed { .. })
    }
}

/// Why a number was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialDenial {
    /// It starts with this denied prefix (as normalised).
    DenyPrefix {
        /// The prefix that matched.
        prefix: String,
    },
    /// Allowed prefixes are configured and none matches.
    NotAllowedPrefix,
    /// It is not a number.
    Malformed(NumberError),
}

/// The compiled dial policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialRules {
    allow: Vec<String>,
    deny: Vec<String>,
    international_prefixes: Vec<String>,
}

impl DialRules {
    /// Compiles `[guard.dial]`. Prefixes are normalised like numbers (so `00881` means
    /// `+881`); anything that is not digits with an optional leading `+` is an error.
    pub fn new(policy: &DialPolicy) -> Result<Self, GuardError> {
        let compile = |list: &'static str, prefixes: &[String]| {
            prefixes
                .iter()
                .enumerate()
                .map(|(index, p)| {
                    let bad = || GuardError::InvalidDialPrefix {
                        list,
                        index,
                        value: p.clone(),
                    };
                    let digits = p.strip_prefix('+').unwrap_or(p);
                    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(bad());
                    }
                    normalise(p, &[]).map(|n| n.0).map_err(|_| bad())
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Self {
            allow: compile("allow_prefixes", &policy.allow_prefixes)?,
            deny: compile("deny_prefixes", &policy.deny_prefixes)?,
            international_prefixes: Vec::new(),
        })
    }

    /// Adds prefixes that mean "international" besides `00` (e.g. `011` for NANP, `0011`
    /// for Australia), so that `011881…` is judged as `+881…`.
    pub fn with_international_prefixes(mut self, prefixes: Vec<String>) -> Self {
        self.international_prefixes = prefixes
            .into_iter()
            .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .collect();
        self
    }

    /// Judges a dialled string (a Request-URI or its user part).
    ///
    /// Deny wins over allow. A number without `+` is also denied when it starts with a
    /// denied global prefix minus its `+` (`1900…` for `+1900`): a trunk may well route
    /// `1900…` as `+1900…`, and refusing a local number that looks like a premium
    /// international one costs less than a fraud bill.
    pub fn check(&self, dialled: &str) -> DialVerdict {
        let number = match normalise(dialled, &self.international_prefixes) {
            Ok(n) => n,
            Err(e) => {
                return DialVerdict::Denied {
                    number: crate::event::sanitize(dialled),
                    reason: DialDenial::Malformed(e),
                };
            }
        };
        let n = number.as_str();
        let global = number.is_global();
        for p in &self.deny {
            let local_look_alike = !global && p.strip_prefix('+').is_some_and(|d| n.starts_with(d));
            if n.starts_with(p.as_str()) || local_look_alike {
                return DialVerdict::Denied {
                    number: number.0,
                    reason: DialDenial::DenyPrefix { prefix: p.clone() },
                };
            }
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|p| n.starts_with(p.as_str())) {
            return DialVerdict::Denied {
                number: number.0,
                reason: DialDenial::NotAllowedPrefix,
            };
        }
        DialVerdict::Allowed { number }
    }
}

/// The fuzz entry point: normalises and judges arbitrary bytes against the default policy
/// (plus an allow list) and panics if an invariant breaks. Shared by the cargo-fuzz
/// target and the corpus replay test.
#[doc(hidden)]
pub fn fuzz_dial_number(data: &[u8]) {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let deny_only = DialPolicy::default();
    let with_allow = DialPolicy {
        allow_prefixes: vec!["+49".into(), "+1".into(), "0".into()],
        ..DialPolicy::default()
    };
    let intl = vec!["011".to_owned()];
    for policy in [deny_only, with_allow] {
        let Ok(rules) = DialRules::new(&policy) else {
            panic!("default policy must compile")
        };
        let rules = rules.with_international_prefixes(intl.clone());
        match rules.check(input) {
            DialVerdict::Allowed { number } => {
                let n = number.as_str();
                let digits = n.strip_prefix('+').unwrap_or(n);
                assert!(!digits.is_empty() && digits.len() <= MAX_DIGITS, "{n:?}");
                assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{n:?}");
                assert!(!n.starts_with("+0"), "{n:?}");
                for p in &rules.deny {
                    assert!(
                        !n.starts_with(p.as_str()),
                        "{input:?} → {n:?} passed deny {p}"
                    );
                }
                if !rules.allow.is_empty() {
                    assert!(rules.allow.iter().any(|p| n.starts_with(p.as_str())));
                }
                // Normalising a normalised number changes nothing and judges the same.
                let again = normalise(n, &rules.international_prefixes);
                assert_eq!(again.as_ref().map(Number::as_str), Ok(n), "not idempotent");
                assert!(rules.check(n).is_allowed(), "{n:?} judged differently");
            }
            DialVerdict::Denied { number, .. } => {
                assert!(number.chars().count() <= 65);
                assert!(!number.chars().any(char::is_control));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> DialRules {
        DialRules::new(&DialPolicy::default()).unwrap()
    }

    fn norm(s: &str) -> Result<String, NumberError> {
        normalise(s, &[]).map(|n| n.0)
    }

    #[test]
    fn normalises_uris_separators_and_00() {
        assert_eq!(
            norm("sip:+4930123456@trunk.example").unwrap(),
            "+4930123456"
        );
        assert_eq!(
            norm("SIPS:004930123456@x;user=phone").unwrap(),
            "+4930123456"
        );
        assert_eq!(norm("tel:+1-212-555-0100").unwrap(), "+12125550100");
        assert_eq!(norm(" +1 (212) 555.0100 ").unwrap(), "+12125550100");
        assert_eq!(norm("0301234567").unwrap(), "0301234567");
        assert_eq!(norm("%2B4930123").unwrap(), "+4930123");
        assert_eq!(norm("sip:+1%20212%20555@h").unwrap(), "+1212555");
        assert_eq!(
            norm("5550100;phone-context=+1-212").unwrap(),
            "+12125550100"
        );
        assert_eq!(
            norm("tel:5550100;phone-context=example.com").unwrap(),
            "5550100"
        );
        assert_eq!(
            normalise("011881234", &["011".into()]).unwrap().as_str(),
            "+881234"
        );
    }

    #[test]
    fn normaliser_refuses_what_is_not_a_number() {
        assert_eq!(norm(""), Err(NumberError::Empty));
        assert_eq!(norm("+"), Err(NumberError::Empty));
        assert_eq!(norm("sip:trunk.example"), Err(NumberError::NoUserPart));
        assert_eq!(norm("%2"), Err(NumberError::BadEscape));
        assert_eq!(norm("%zz1"), Err(NumberError::BadEscape));
        assert_eq!(norm("*67+19005550100"), Err(NumberError::ServiceCode('*')));
        assert_eq!(norm("#31#19005550100"), Err(NumberError::ServiceCode('#')));
        assert_eq!(norm("alice"), Err(NumberError::InvalidChar('a')));
        assert_eq!(norm("++1900"), Err(NumberError::InvalidChar('+')));
        assert_eq!(norm("1900+1"), Err(NumberError::InvalidChar('+')));
        assert_eq!(norm("００１９００"), Err(NumberError::InvalidChar('０')));
        assert_eq!(norm("%252B1900"), Err(NumberError::InvalidChar('%')));
        assert_eq!(norm("+0123"), Err(NumberError::BadCountryCode));
        assert_eq!(norm(&"1".repeat(21)), Err(NumberError::TooLong));
        assert_eq!(norm(&"1".repeat(300)), Err(NumberError::TooLong));
        assert_eq!(
            norm("tel:+1900\u{0}"),
            Err(NumberError::InvalidChar('\u{0}'))
        );
    }

    #[test]
    fn premium_numbers_are_denied_however_written() {
        let r = rules();
        for dialled in [
            "+19005550100",
            "sip:+19005550100@trunk.example",
            "sip:+1900-555-0100@trunk.example;user=phone",
            "tel:+1-900-555-0100",
            "%2B19005550100",
            "sip:%2b1900%35550100@h",
            "0019005550100",
            "  00 1 900 555 0100",
            "+1 (900) 555-0100",
            "19005550100",
            "1-900-555-0100",
            "9005550100;phone-context=+1",
            "sip:9005550100;phone-context=+1@trunk.example",
            "tel:5550100;phone-context=+1-900",
            "00881612345678",
            "+4490123456",
            "0044 90 123456",
        ] {
            match r.check(dialled) {
                DialVerdict::Denied {
                    reason: DialDenial::DenyPrefix { prefix },
                    number,
                } => assert!(
                    number.starts_with(prefix.as_str()) || number.starts_with(&prefix[1..]),
                    "{dialled}"
                ),
                other => panic!("{dialled:?} → {other:?}"),
            }
        }
        for dialled in [
            "*67+19005550100",
            "#31#+19005550100",
            "+1900abc",
            "%252B1900",
        ] {
            assert!(
                matches!(
                    r.check(dialled),
                    DialVerdict::Denied {
                        reason: DialDenial::Malformed(_),
                        ..
                    }
                ),
                "{dialled}"
            );
        }
    }

    #[test]
    fn ordinary_numbers_pass_and_allow_list_binds() {
        let r = rules();
        for ok in [
            "+4930123456",
            "sip:+12125550100@h",
            "0301234567",
            "tel:+44-20-7946-0000",
        ] {
            assert!(r.check(ok).is_allowed(), "{ok}");
        }
        let only_de = DialRules::new(&DialPolicy {
            allow_prefixes: vec!["+49".into()],
            deny_prefixes: vec!["+49900".into(), "0049137".into()],
        })
        .unwrap();
        assert!(only_de.check("004930123").is_allowed());
        assert_eq!(
            only_de.check("+12125550100"),
            DialVerdict::Denied {
                number: "+12125550100".into(),
                reason: DialDenial::NotAllowedPrefix
            }
        );
        // National format does not start with +49: refused, not guessed.
        assert!(!only_de.check("0301234").is_allowed());
        assert_eq!(
            only_de.check("+49 137 1234"),
            DialVerdict::Denied {
                number: "+491371234".into(),
                reason: DialDenial::DenyPrefix {
                    prefix: "+49137".into()
                }
            }
        );
    }

    #[test]
    fn bad_prefixes_are_refused_at_build() {
        let err = DialRules::new(&DialPolicy {
            allow_prefixes: vec![],
            deny_prefixes: vec!["+1900".into(), "+1-976".into()],
        })
        .unwrap_err();
        assert_eq!(
            err,
            GuardError::InvalidDialPrefix {
                list: "deny_prefixes",
                index: 1,
                value: "+1-976".into()
            }
        );
        assert!(
            DialRules::new(&DialPolicy {
                allow_prefixes: vec!["+".into()],
                deny_prefixes: vec![],
            })
            .is_err()
        );
    }
}
