//! Sections of drawbridge configuration files for the interop labs ([`Lab::sbc`],
//! [`Lab::internet`]): the parts every test's configuration shares, so that a test's own
//! text shows only what it is about. A test writes its configuration as a template that
//! names a section on a line of its own, as `{PBX}`, and [`expand`]s it.
//!
//! [`Lab::sbc`]: crate::netns::Lab::sbc
//! [`Lab::internet`]: crate::netns::Lab::internet

/// `[sip.tls]`: a self-signed certificate, generated beside the configuration file.
pub const SELF_SIGNED_TLS: &str = r#"[sip.tls]
cert_file = "tls.crt"
key_file = "tls.key"
generate_self_signed = true
"#;

/// The start of a `[[trunk]]` for the provider at 198.18.1.10; the test adds its
/// allowlist, transport and port.
pub const PROVIDER_TRUNK: &str = r#"[[trunk]]
name = "provider"
host = "198.18.1.10"
"#;

/// `[pbx]`: the PBX of [`Lab::sbc`] (198.18.2.10:5060), reached from drawbridge's LAN leg
/// 198.18.2.1:5080.
///
/// [`Lab::sbc`]: crate::netns::Lab::sbc
pub const PBX: &str = r#"[pbx]
address = "198.18.2.10:5060"
domain = "pbx.lan"
listen = "198.18.2.1:5080"
"#;

/// `[pbx]` for a lab without a LAN ([`Lab::internet`]): drawbridge's PBX leg stays on
/// loopback.
///
/// [`Lab::internet`]: crate::netns::Lab::internet
pub const NO_PBX: &str = r#"[pbx]
address = "198.18.2.10:5060"
domain = "pbx.lan"
listen = "127.0.0.1:5080"
"#;

/// Keys of `[media]` (the header and any port range come first, from the test): relay
/// media on drawbridge's public leg 198.18.1.2 and its LAN leg 198.18.2.1.
pub const MEDIA_ADDRESSES: &str = r#"public_address = "198.18.1.2"
lan_address = "198.18.2.1"
"#;

/// `[admin]`: metrics on 127.0.0.1:9090, where `Lab::metrics` reads them; logs at `info`.
pub const ADMIN: &str = r#"[admin]
metrics_listen = "127.0.0.1:9090"
log_level = "info"
"#;

/// The sections a template may name, by name.
const SECTIONS: [(&str, &str); 6] = [
    ("SELF_SIGNED_TLS", SELF_SIGNED_TLS),
    ("PROVIDER_TRUNK", PROVIDER_TRUNK),
    ("PBX", PBX),
    ("NO_PBX", NO_PBX),
    ("MEDIA_ADDRESSES", MEDIA_ADDRESSES),
    ("ADMIN", ADMIN),
];

/// `template` with each line `{NAME}` replaced by section `NAME` of this module; panics on
/// a name it does not know, so that a typo cannot drop a section silently.
pub fn expand(template: &str) -> String {
    let mut out = String::with_capacity(template.len() + 512);
    for line in template.lines() {
        let name = line
            .trim()
            .strip_prefix('{')
            .and_then(|l| l.strip_suffix('}'))
            .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
        match name {
            Some(name) => {
                let Some((_, section)) = SECTIONS.iter().find(|(n, _)| *n == name) else {
                    panic!("no configuration section {{{name}}}");
                };
                out.push_str(section);
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_sections_are_expanded_and_other_lines_kept() {
        let text = expand("[sip]\nlisten_tls = \"off\"\n{PBX}\n  {ADMIN}\n");
        assert_eq!(text, format!("[sip]\nlisten_tls = \"off\"\n{PBX}{ADMIN}"));
        // TOML's own braces are not section names.
        assert_eq!(expand("x = { a = 1 }\n{}\n"), "x = { a = 1 }\n{}\n");
    }

    #[test]
    #[should_panic(expected = "no configuration section {PBXX}")]
    fn an_unknown_section_is_an_error() {
        expand("{PBXX}\n");
    }
}
