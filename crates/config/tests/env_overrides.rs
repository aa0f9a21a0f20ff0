//! `DRAWBRIDGE_` environment variables override the file, nested keys joined by `__`.
//!
//! Each test runs the check in a child process of this test binary so that setting
//! environment variables cannot race with other tests.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::fs;
use std::process::Command;

const FILE: &str = r#"
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
"#;

/// When run as the child (env var set), load the file and print the fields under test.
#[test]
fn child() {
    let Ok(path) = std::env::var("DRAWBRIDGE_TEST_FILE") else {
        return;
    };
    match drawbridge_config::load(std::path::Path::new(&path)) {
        Ok(c) => println!(
            "RESULT pbx.address={} admin.log_level={} guard.max_calls_per_second={}",
            c.pbx.address, c.admin.log_level, c.guard.max_calls_per_second
        ),
        Err(e) => println!("RESULT error: {}", e.to_string().replace('\n', " ")),
    }
}

fn run_child(env: &[(&str, &str)]) -> String {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("tls.crt"), "x").unwrap();
    fs::write(d.path().join("tls.key"), "x").unwrap();
    let path = d.path().join("drawbridge.toml");
    fs::write(&path, FILE).unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["child", "--exact", "--nocapture"])
        .env("DRAWBRIDGE_TEST_FILE", &path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("child printed no result: {stdout}"))
}

#[test]
fn nested_keys_override_the_file() {
    let r = run_child(&[
        ("DRAWBRIDGE_PBX__ADDRESS", "198.18.2.99:5070"),
        ("DRAWBRIDGE_ADMIN__LOG_LEVEL", "debug"),
        ("DRAWBRIDGE_GUARD__MAX_CALLS_PER_SECOND", "7"),
    ]);
    assert_eq!(
        r,
        "pbx.address=198.18.2.99:5070 admin.log_level=debug guard.max_calls_per_second=7"
    );
}

#[test]
fn file_values_stand_without_env() {
    let r = run_child(&[]);
    assert_eq!(
        r,
        "pbx.address=198.18.2.10:5060 admin.log_level=info guard.max_calls_per_second=20"
    );
}

#[test]
fn bad_env_value_names_the_variable() {
    let r = run_child(&[("DRAWBRIDGE_GUARD__MAX_CALLS_PER_SECOND", "many")]);
    assert!(r.contains("error") && r.contains("DRAWBRIDGE_"), "{r}");
}

#[test]
fn env_values_are_validated_too() {
    let r = run_child(&[("DRAWBRIDGE_PBX__ADDRESS", "77.240.48.5:5060")]);
    assert!(r.contains("contains the PBX address 77.240.48.5"), "{r}");
}
