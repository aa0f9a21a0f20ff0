//! Answering a trunk's digest challenge (RFC 3261 §22, RFC 2617 with `qop=auth`, MD5).

use md5::{Digest as _, Md5};

use crate::Credentials;

/// The parameters of a `Digest` challenge drawbridge can answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub(crate) realm: String,
    pub(crate) nonce: String,
    pub(crate) opaque: Option<String>,
    /// Whether the server offered `qop=auth`.
    pub(crate) qop_auth: bool,
}

/// Parses a `WWW-Authenticate`/`Proxy-Authenticate` value. `None` for schemes other than
/// Digest, algorithms other than MD5, or a challenge without realm or nonce.
pub(crate) fn parse_challenge(value: &str) -> Option<Challenge> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(char::is_whitespace)?;
    if !scheme.eq_ignore_ascii_case("Digest") {
        return None;
    }
    let mut realm = None;
    let mut nonce = None;
    let mut opaque = None;
    let mut qop_auth = false;
    for (k, v) in params(rest) {
        match k.to_ascii_lowercase().as_str() {
            "realm" => realm = Some(v),
            "nonce" => nonce = Some(v),
            "opaque" => opaque = Some(v),
            "qop" => {
                qop_auth = v.split(',').any(|q| q.trim().eq_ignore_ascii_case("auth"));
            }
            "algorithm" if !v.eq_ignore_ascii_case("MD5") => return None,
            _ => {}
        }
    }
    Some(Challenge {
        realm: realm?,
        nonce: nonce?,
        opaque,
        qop_auth,
    })
}

/// `k=v` / `k="v, with commas"` pairs, comma separated.
fn params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((k, after)) = rest.split_once('=') else {
            break;
        };
        let after = after.trim_start();
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.push((k.trim().to_owned(), v.trim().to_owned()));
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

fn md5_hex(s: &str) -> String {
    let d = Md5::digest(s.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `Authorization`/`Proxy-Authorization` value answering `challenge` for `method`
/// on `uri`, with nonce count 1 and `cnonce` when the server asked for `qop=auth`.
pub(crate) fn authorization(
    challenge: &Challenge,
    credentials: &Credentials,
    method: &str,
    uri: &str,
    cnonce: &str,
) -> String {
    let ha1 = md5_hex(&format!(
        "{}:{}:{}",
        credentials.username, challenge.realm, credentials.password
    ));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    let mut v = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\"",
        credentials.username, challenge.realm, challenge.nonce, uri
    );
    if challenge.qop_auth {
        let nc = "00000001";
        let response = md5_hex(&format!(
            "{ha1}:{}:{nc}:{cnonce}:auth:{ha2}",
            challenge.nonce
        ));
        v.push_str(&format!(
            ", response=\"{response}\", algorithm=MD5, cnonce=\"{cnonce}\", qop=auth, nc={nc}"
        ));
    } else {
        let response = md5_hex(&format!("{ha1}:{}:{ha2}", challenge.nonce));
        v.push_str(&format!(", response=\"{response}\", algorithm=MD5"));
    }
    if let Some(o) = &challenge.opaque {
        v.push_str(&format!(", opaque=\"{o}\""));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            username: "Mufasa".into(),
            password: "Circle Of Life".into(),
        }
    }

    /// RFC 2617 §3.5's worked example (method GET, qop=auth): an independent vector.
    #[test]
    fn rfc2617_section_3_5_example_response() {
        let c = parse_challenge(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        assert!(c.qop_auth);
        let v = authorization(&c, &creds(), "GET", "/dir/index.html", "0a4f113b");
        assert!(
            v.contains("response=\"6629fae49393a05397450978507c4ef1\""),
            "{v}"
        );
        assert!(v.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
        assert!(v.contains("nc=00000001"));
    }

    #[test]
    fn challenges_drawbridge_cannot_answer_are_refused() {
        assert!(parse_challenge("Basic realm=\"x\"").is_none());
        assert!(parse_challenge("Digest realm=\"x\", nonce=\"n\", algorithm=SHA-256").is_none());
        assert!(parse_challenge("Digest realm=\"x\"").is_none());
        let c = parse_challenge("Digest realm=\"x\",nonce=n1,algorithm=MD5").unwrap();
        assert_eq!(c.nonce, "n1");
        assert!(!c.qop_auth);
    }
}
