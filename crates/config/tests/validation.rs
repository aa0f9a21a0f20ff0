//! One failing example per validation rule, asserting the message a user sees.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::fs;
use std::path::Path;

use drawbridge_config::{ConfigError, load, load_str};

/// A valid configuration whose files live in `dir`; tests append or replace parts.
fn base(dir: &Path) -> String {
    fs::write(
        dir.join("wg.key"),
        "YNqHbfBQKaGvzefSSPm6ZTYBLNtTTz0HQsnA+PmfYxQ=\n",
    )
    .unwrap();
    fs::write(dir.join("tls.crt"), "-----BEGIN CERTIFICATE-----\n").unwrap();
    fs::write(dir.join("tls.key"), "-----BEGIN PRIVATE KEY-----\n").unwrap();
    r#"
[tunnel]
listen = ["0.0.0.0:51820"]
private_key_file = "wg.key"
address = ["100.64.0.1/24"]
peers_file = "peers.toml"

[sip]
listen_tls = "0.0.0.0:5061"
[sip.tls]
cert_file = "tls.crt"
key_file = "tls.key"

[[trunk]]
name = "provider"
allow = ["77.240.48.0/24"]
host = "sip.provider.example"

[pbx]
address = "198.18.2.10:5060"
domain = "pbx.lan"
"#
    .to_owned()
}

fn problems(toml: &str, dir: &Path) -> Vec<String> {
    match load_str(toml, dir) {
        Ok(_) => Vec::new(),
        Err(e) => e.problems(),
    }
}

fn assert_one(toml: &str, dir: &Path, expected: &str) {
    let ps = problems(toml, dir);
    assert_eq!(ps.len(), 1, "expected exactly one problem, got {ps:#?}");
    assert!(
        ps[0].contains(expected),
        "problem {:?} does not contain {expected:?}",
        ps[0]
    );
}

#[test]
fn base_config_is_valid() {
    let d = tempfile::tempdir().unwrap();
    assert_eq!(problems(&base(d.path()), d.path()), Vec::<String>::new());
}

#[test]
fn seed_ranges_give_did_you_mean_and_nothing_else() {
    let d = tempfile::tempdir().unwrap();
    let toml = base(d.path()).replace(
        r#"allow = ["77.240.48.0/24"]"#,
        r#"allow = ["217.14.138.0/12", "77.240.48.0/24", "77.240.60.0/24"]"#,
    );
    assert_one(
        &toml,
        d.path(),
        "trunk[0].allow[0] = 217.14.138.0/12: range 217.14.138.0/12 has host bits set; did you mean 217.0.0.0/12?",
    );
}

#[test]
fn world_open_needs_allow_any() {
    let d = tempfile::tempdir().unwrap();
    let toml = base(d.path()).replace(r#"allow = ["77.240.48.0/24"]"#, r#"allow = ["0.0.0.0/0"]"#);
    assert_one(&toml, d.path(), "allows every address on the internet");
    let ok = toml.replace(
        "allow = [\"0.0.0.0/0\"]",
        "allow = [\"0.0.0.0/0\"]\nallow_any = true",
    );
    assert!(problems(&ok, d.path()).is_empty());
}

#[test]
fn overlap_inside_one_trunk() {
    let d = tempfile::tempdir().unwrap();
    let toml = base(d.path()).replace(
        r#"allow = ["77.240.48.0/24"]"#,
        r#"allow = ["77.240.48.0/24", "77.240.48.7"]"#,
    );
    assert_one(
        &toml,
        d.path(),
        "trunk[0].allow[1] = 77.240.48.7: overlaps trunk[0].allow[0] (77.240.48.0/24)",
    );
}

#[test]
fn overlap_between_trunks() {
    let d = tempfile::tempdir().unwrap();
    let toml = base(d.path())
        + r#"
[[trunk]]
name = "backup"
allow = ["77.240.0.0/16"]
host = "backup.example"
"#;
    assert_one(
        &toml,
        d.path(),
        "of trunk \"provider\"; a source must belong to exactly one trunk",
    );
}

#[test]
fn inverted_port_range() {
    let d = tempfile::tempdir().unwrap();
    let toml = base(d.path()) + "\n[media]\nport_min = 30000\nport_max = 20000\n";
    assert_one(
        &toml,
        d.path(),
        "media.port_min = 30000: is above media.port_max (20000); the range is inverted",
    );
}

#[test]
fn port_range_overlapping_a_listener() {
    let d = tempfile::tempdir().unwrap();
    let toml = base(d.path()) + "\n[media]\nport_min = 50000\nport_max = 59999\n";
    assert_one(
        &toml,
        d.path(),
        "the RTP range contains the port of tunnel.listen[0] (0.0.0.0:51820)",
    );
}

#[test]
fn two_listeners_on_one_port() {
    let d = tempfile::tempdir().unwrap();
    let toml = base(d.path()).replace("[sip]\n", "[sip]\nlisten_udp = \"0.0.0.0:51820\"\n");
    let ps = problems(&toml, d.path());
    assert!(
        ps.iter().any(|p| p
            .contains("sip.listen_udp = 0.0.0.0:51820: uses the same port as tunnel.listen[0]")),
        "{ps:#?}"
    );
}

#[test]
fn unreadable_key_file() {
    let d = tempfile::tempdir().unwrap();
    let toml = base(d.path()).replace(
        "private_key_file = \"wg.key\"",
        "private_key_file = \"missing.key\"",
    );
    let expected = format!(
        "tunnel.private_key_file = {}: file not found",
        d.path().join("missing.key").display()
    );
    assert_one(&toml, d.path(), &expected);
}

#[test]
fn key_file_with_garbage() {
    let d = tempfile::tempdir().unwrap();
    let toml = base(d.path());
    fs::write(d.path().join("wg.key"), "hello\n").unwrap();
    assert_one(&toml, d.path(), "does not hold a WireGuard private key");
}

#[test]
fn unreadable_cert_file() {
    let d = tempfile::tempdir().unwrap();
    let toml = base(d.path()).replace("cert_file = \"tls.crt\"", "cert_file = \"nope.crt\"");
    assert_one(&toml, d.path(), "sip.tls.cert_file");
}

#[cfg(unix)]
#[test]
fn permission_denied_is_named() {
    use std::os::unix::fs::PermissionsExt;
    // root reads anything; the rule is still exercised by the NotFound test above.
    if std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"))
    {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let toml = base(d.path());
    fs::set_permissions(d.path().join("tls.key"), fs::Permissions::from_mode(0o000)).unwrap();
    assert_one(&toml, d.path(), "permission denied");
}

#[test]
fn pbx_inside_trunk_allowlist() {
    let d = tempfile::tempdir().unwrap();
    let toml = base(d.path()).replace(
        r#"allow = ["77.240.48.0/24"]"#,
        r#"allow = ["198.18.0.0/15"]"#,
    );
    assert_one(
        &toml,
        d.path(),
        "contains the PBX address 198.18.2.10 (pbx.address)",
    );
}

#[test]
fn unknown_key_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let toml = base(d.path()).replace("allow = [", "alow = [");
    let err = load_str(&toml, d.path()).unwrap_err();
    assert!(matches!(err, ConfigError::Syntax(_)), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("unknown field") && msg.contains("alow"),
        "{msg}"
    );
}

#[test]
fn bare_address_is_a_host() {
    let d = tempfile::tempdir().unwrap();
    let toml = base(d.path()).replace(
        r#"allow = ["77.240.48.0/24"]"#,
        r#"allow = ["203.0.113.9"]"#,
    );
    let c = load_str(&toml, d.path()).unwrap();
    assert_eq!(c.trunk[0].allow[0].net().prefix_len(), 32);
}

#[test]
fn garbage_range_names_the_key() {
    let d = tempfile::tempdir().unwrap();
    let toml = base(d.path()).replace(
        r#"allow = ["77.240.48.0/24"]"#,
        r#"allow = ["provider.example"]"#,
    );
    let msg = load_str(&toml, d.path()).unwrap_err().to_string();
    assert!(
        msg.contains("is not an address range") && msg.contains("trunk.0.allow.0"),
        "{msg}"
    );
}

#[test]
fn all_problems_are_reported_together() {
    let d = tempfile::tempdir().unwrap();
    let toml = base(d.path())
        .replace(
            r#"allow = ["77.240.48.0/24"]"#,
            r#"allow = ["217.14.138.0/12", "0.0.0.0/0"]"#,
        )
        .replace(
            "private_key_file = \"wg.key\"",
            "private_key_file = \"missing.key\"",
        )
        + "\n[media]\nport_min = 30000\nport_max = 20000\n[admin]\nlog_level = \"loud\"\n";
    let ps = problems(&toml, d.path());
    for needle in [
        "did you mean 217.0.0.0/12",
        "allows every address",
        "missing.key",
        "inverted",
        "admin.log_level",
    ] {
        assert!(
            ps.iter().any(|p| p.contains(needle)),
            "{needle} missing from {ps:#?}"
        );
    }
}

#[test]
fn credentials_need_exactly_one_password_source() {
    let d = tempfile::tempdir().unwrap();
    let toml = base(d.path()).replace(
        "host = \"sip.provider.example\"",
        "host = \"sip.provider.example\"\n[trunk.credentials]\nusername = \"4930\"\n",
    );
    assert_one(
        &toml,
        d.path(),
        "no password: set password_file (preferred) or password_env",
    );
}

#[test]
fn bad_dial_prefix() {
    let d = tempfile::tempdir().unwrap();
    let toml = base(d.path()) + "\n[guard.dial]\ndeny_prefixes = [\"+19x0\"]\n";
    assert_one(&toml, d.path(), "guard.dial.deny_prefixes[0]");
}

#[test]
fn relative_paths_follow_the_config_file() {
    let d = tempfile::tempdir().unwrap();
    let toml = base(d.path());
    let path = d.path().join("drawbridge.toml");
    fs::write(&path, toml).unwrap();
    let c = load(&path).unwrap();
    assert_eq!(c.tunnel.unwrap().private_key_file, d.path().join("wg.key"));
}

#[test]
fn missing_file_is_named() {
    let err = load(Path::new("/nonexistent/drawbridge.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/drawbridge.toml"), "{err}");
}

#[test]
fn echo_port_must_not_clash() {
    let d = tempfile::tempdir().unwrap();
    let toml = base(d.path()).replace(
        "peers_file = \"peers.toml\"",
        "peers_file = \"peers.toml\"\necho_port = 5060",
    );
    assert_one(
        &toml,
        d.path(),
        "tunnel.echo_port = 5060: must be a port of its own",
    );
}

#[test]
fn a_default_listener_can_be_switched_off() {
    let d = tempfile::tempdir().unwrap();
    let toml = base(d.path())
        .replace(
            "listen_tls = \"0.0.0.0:5061\"",
            "listen_tls = \"off\"\nlisten_udp = \"0.0.0.0:5060\"",
        )
        .replace(
            "host = \"sip.provider.example\"",
            "host = \"sip.provider.example\"\ntransport = \"udp\"",
        )
        + "\n[admin]\nmetrics_listen = \"off\"\n";
    let c = load_str(&toml, d.path()).unwrap();
    assert_eq!(c.sip.listen_tls, None);
    assert_eq!(c.admin.metrics_listen, None);
    let bad = base(d.path()).replace("listen_tls = \"0.0.0.0:5061\"", "listen_tls = \"5061\"");
    let msg = load_str(&bad, d.path()).unwrap_err().to_string();
    assert!(
        msg.contains("is not a listen address") && msg.contains("listen_tls"),
        "{msg}"
    );
}

#[test]
fn signalling_workers_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let toml = base(dir.path()).replace("[sip]\n", "[sip]\nworkers = 0\n");
    assert_one(&toml, dir.path(), "sip.workers");
    let toml = base(dir.path()).replace("[sip]\n", "[sip]\nworkers = 65\n");
    assert_one(&toml, dir.path(), "between 1 and 64");
    let toml = base(dir.path()).replace("[sip]\n", "[sip]\nworkers = 3\n");
    assert_eq!(problems(&toml, dir.path()), Vec::<String>::new());
}

#[test]
fn tcp_keepalive_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let toml = base(dir.path()).replace("[sip]\n", "[sip]\ntcp_keepalive_secs = 3601\n");
    assert_one(&toml, dir.path(), "sip.tcp_keepalive_secs");
    for ok in ["0", "1", "3600"] {
        let toml =
            base(dir.path()).replace("[sip]\n", &format!("[sip]\ntcp_keepalive_secs = {ok}\n"));
        assert_eq!(problems(&toml, dir.path()), Vec::<String>::new(), "{ok}");
    }
    let config = load_str(&base(dir.path()), dir.path()).unwrap();
    assert_eq!(config.sip.tcp_keepalive_secs, 30, "default");
}

#[test]
fn port_quarantine_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let toml = base(dir.path()) + "\n[media]\nport_quarantine_secs = 0\n";
    assert_one(&toml, dir.path(), "media.port_quarantine_secs");
    let toml = base(dir.path()) + "\n[media]\nport_quarantine_secs = 301\n";
    assert_one(&toml, dir.path(), "between 1 and 300");
}
