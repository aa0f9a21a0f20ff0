//! The command line is a contract: these tests run the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::time::Duration;

use drawbridge_tests::netns::run_ok;
use drawbridge_tests::{Running, drawbridge, example_config_in, output_with_stdin, repo_root};

#[test]
fn version_prints_name_and_version() {
    let out = drawbridge().arg("version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("drawbridge {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn check_accepts_the_example_config_and_shows_exposure() {
    let out = drawbridge()
        .args(["check", "--config"])
        .arg(repo_root().join("config/drawbridge.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().next(), Some("ok"));
    assert!(
        stdout.contains("WireGuard") && stdout.contains("any other key: no answer"),
        "{stdout}"
    );
    assert!(
        stdout.contains("SIP/TLS")
            && stdout
                .contains("trunk \"provider\" from 217.0.0.0/12, 77.240.48.0/24, 77.240.60.0/24"),
        "{stdout}"
    );
    assert!(stdout.contains("the PBX 198.18.2.10:5060 only"), "{stdout}");
}

#[test]
fn check_finds_the_default_path_from_the_repo_root() {
    run_ok(drawbridge().arg("check").current_dir(repo_root()));
}

#[test]
fn check_rejects_the_seed_ranges_with_a_did_you_mean() {
    let d = tempfile::tempdir().unwrap();
    let path = example_config_in(d.path());
    let text = std::fs::read_to_string(&path).unwrap().replace(
        r#"allow = ["217.0.0.0/12", "77.240.48.0/24", "77.240.60.0/24"]"#,
        r#"allow = ["217.14.138.0/12", "77.240.48.0/24", "77.240.60.0/24"]"#,
    );
    std::fs::write(&path, text).unwrap();
    let out = drawbridge()
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1 problem in the configuration"),
        "{stderr}"
    );
    assert!(
        stderr.contains("trunk[0].allow[0] = 217.14.138.0/12: range 217.14.138.0/12 has host bits set; did you mean 217.0.0.0/12?"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing is printed as ok");
}

#[test]
fn check_without_any_config_names_the_paths_tried() {
    let d = tempfile::tempdir().unwrap();
    let out = drawbridge()
        .arg("check")
        .current_dir(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("config/drawbridge.toml")
            && stderr.contains("/etc/drawbridge/drawbridge.toml"),
        "{stderr}"
    );
}

#[test]
fn keygen_and_pubkey_agree_with_curve25519() {
    let out = drawbridge().arg("keygen").output().unwrap();
    assert!(out.status.success());
    let private = String::from_utf8(out.stdout).unwrap();
    assert_eq!(private.trim().len(), 44, "{private}");

    // RFC 7748 §6.1: Bob's private key and public key.
    let out = output_with_stdin(
        drawbridge().arg("pubkey"),
        b"XasIfmJKikt54X+Lg4AO5m87sSkmGLb9HC+LJ/+I4Os=\n",
    );
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08="
    );
}

#[test]
fn pubkey_rejects_garbage() {
    let out = output_with_stdin(drawbridge().arg("pubkey"), b"not a key\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a WireGuard key"));
}

#[test]
fn run_starts_with_the_example_config_and_stops_on_sigterm() {
    let d = tempfile::tempdir().unwrap();
    let config = example_config_in(d.path());
    let mut run = Running::start(&config);
    run.wait_for("WireGuard listening", Duration::from_secs(20));
    run.wait_for("SIP over TLS listening", Duration::from_secs(5));
    run.wait_for("metrics served", Duration::from_secs(5));
    assert!(
        d.path().join("secrets/wireguard.key").exists(),
        "first run generates the key"
    );
    run.signal("TERM");
    assert_eq!(
        run.wait_exit(Duration::from_secs(10)),
        Some(0),
        "log:\n{}",
        run.log.join("\n")
    );
    assert!(run.log.iter().any(|l| l.contains("SIGTERM")));
}

#[test]
fn run_stops_on_sigint() {
    let d = tempfile::tempdir().unwrap();
    let config = example_config_in(d.path());
    let mut run = Running::start(&config);
    run.wait_for("metrics served", Duration::from_secs(20));
    run.signal("INT");
    assert_eq!(
        run.wait_exit(Duration::from_secs(10)),
        Some(0),
        "log:\n{}",
        run.log.join("\n")
    );
}

#[test]
fn run_refuses_an_invalid_config_and_starts_nothing() {
    let d = tempfile::tempdir().unwrap();
    let path = example_config_in(d.path());
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("port_min = 20000", "port_min = 40000");
    std::fs::write(&path, text).unwrap();
    let mut run = Running::start(&path);
    assert_eq!(run.wait_exit(Duration::from_secs(10)), Some(1));
    let log = run.log.join("\n");
    assert!(
        log.contains("media.port_min = 40000: is above media.port_max"),
        "{log}"
    );
    assert!(!log.contains("listening"), "{log}");
    assert!(
        !d.path().join("secrets").exists(),
        "nothing is generated for an invalid config"
    );
}
