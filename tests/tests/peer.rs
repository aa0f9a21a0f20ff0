//! `drawbridge peer add|list|remove|disable|enable` against the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::path::{Path, PathBuf};
use std::process::Output;

use drawbridge_tests::wg_quick_field as field;
use drawbridge_tests::{drawbridge, example_config_in, output_with_stdin};

fn peer(config: &Path, args: &[&str]) -> Output {
    drawbridge()
        .arg("peer")
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

/// A temporary directory holding the example configuration, and the configuration's path.
fn example() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let config = example_config_in(d.path());
    (d, config)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn add_prints_a_wg_quick_config_that_matches_the_server() {
    let (d, config) = example();
    let out = peer(&config, &["add", "alice", "--extension", "101"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let conf = text(&out.stdout);

    // The phone's private key is printed and its public half is what the file stores.
    let private = field(&conf, "PrivateKey").expect("PrivateKey line");
    let public = text(&output_with_stdin(drawbridge().arg("pubkey"), private.as_bytes()).stdout)
        .trim()
        .to_owned();
    let peers = std::fs::read_to_string(d.path().join("peers.toml")).unwrap();
    assert!(
        peers.contains(&format!("public_key = \"{public}\"")),
        "{peers}"
    );
    assert!(
        !peers.contains(private),
        "the private key must not be stored"
    );

    // The server's public key is the one of the generated server key.
    let server_private = std::fs::read_to_string(d.path().join("secrets/wireguard.key")).unwrap();
    assert_eq!(server_private.trim().len(), 44);
    assert_eq!(field(&conf, "Address"), Some("100.64.0.2/32, fd64::2/128"));
    assert_eq!(
        field(&conf, "AllowedIPs"),
        Some("100.64.0.1/32, fd64::1/128"),
        "only the SBC is routed"
    );
    assert_eq!(field(&conf, "Endpoint"), Some("vpn.example.com:51820"));
    assert_eq!(field(&conf, "PersistentKeepalive"), Some("25"));
    assert!(text(&out.stderr).contains("shown once"));
}

#[test]
fn second_peer_gets_the_next_address_and_names_are_unique() {
    let (_d, config) = example();
    assert!(
        peer(&config, &["add", "alice", "-e", "101"])
            .status
            .success()
    );
    let out = peer(&config, &["add", "bob", "-e", "102", "-e", "103"]);
    assert_eq!(
        field(&text(&out.stdout), "Address"),
        Some("100.64.0.3/32, fd64::3/128")
    );
    let again = peer(&config, &["add", "alice"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("already exists"));
}

#[test]
fn public_key_from_the_phone_is_registered_without_a_private_key() {
    let (d, config) = example();
    let key = "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=";
    let out = peer(&config, &["add", "phone", "-e", "200", "--public-key", key]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(field(&text(&out.stdout), "PrivateKey").is_none());
    let peers = std::fs::read_to_string(d.path().join("peers.toml")).unwrap();
    assert!(peers.contains(key));
    let bad = peer(&config, &["add", "x", "--public-key", "nope"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("--public-key"));
}

#[test]
fn list_disable_enable_remove() {
    let (_d, config) = example();
    assert!(text(&peer(&config, &["list"]).stdout).contains("no peers"));
    assert!(
        peer(&config, &["add", "alice", "-e", "101"])
            .status
            .success()
    );
    assert!(peer(&config, &["disable", "alice"]).status.success());
    let list = text(&peer(&config, &["list"]).stdout);
    assert!(
        list.lines()
            .any(|l| l.starts_with("alice") && l.contains("disabled") && l.contains("101")),
        "{list}"
    );
    assert!(peer(&config, &["enable", "alice"]).status.success());
    assert!(text(&peer(&config, &["list"]).stdout).contains("enabled"));
    assert!(peer(&config, &["remove", "alice"]).status.success());
    assert!(text(&peer(&config, &["list"]).stdout).contains("no peers"));
    let missing = peer(&config, &["remove", "alice"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("no peer named \"alice\""));
}

#[test]
fn qr_outputs() {
    let (d, config) = example();
    let png = d.path().join("alice.png");
    let out = drawbridge()
        .args(["peer", "add", "alice", "-e", "101", "--qr", "--qr-png"])
        .arg(&png)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains('█'),
        "terminal QR uses block characters"
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn bad_names_and_extensions_are_refused() {
    let (d, config) = example();
    let out = peer(&config, &["add", "no spaces"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("is not valid"));
    let out = peer(&config, &["add", "ok", "-e", "1;2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("extension \"1;2\" is not valid"));
    assert!(!d.path().join("peers.toml").exists());
}
