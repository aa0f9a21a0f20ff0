//! Interop over SIP-TLS, the default trunk transport: a real TLS peer (Kamailio with its
//! tls module) is the provider's edge, with SIPp behind it. Calls go both ways through
//! drawbridge; drawbridge verifies the provider's certificate against the configured CA.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::path::Path;
use std::time::Duration;

use drawbridge_tests::netns::{Lab, require, run_ok};
use drawbridge_tests::{METRICS_PY, binary, metric, repo_root, wait_for_file};

const CONFIG: &str = r#"
[sip]
listen_tls = "198.18.1.2:5061"
advertised_host = "sbc.example.net"
[sip.tls]
cert_file = "tls.crt"
key_file = "tls.key"
generate_self_signed = true

[[trunk]]
name = "provider"
allow = ["198.18.1.10"]
transport = "tls"
host = "198.18.1.10"
port = 5061
[trunk.tls]
ca_file = "ca.pem"
sni = "provider.lab"

[pbx]
address = "198.18.2.10:5060"
domain = "pbx.lan"
listen = "198.18.2.1:5080"

[media]
port_min = 30000
port_max = 30999
public_address = "198.18.1.2"
lan_address = "198.18.2.1"

[admin]
metrics_listen = "127.0.0.1:9090"
log_level = "info"
"#;

const TLS_CFG: &str = "[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = __DIR__/provider.key
certificate = __DIR__/provider.pem

[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
";

fn openssl(dir: &Path, args: &[&str]) {
    run_ok(
        std::process::Command::new("openssl")
            .current_dir(dir)
            .args(args),
    );
}

fn make_certs(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=lab provider CA",
            "-days",
            "2",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "provider.key",
            "-out",
            "provider.csr",
            "-subj",
            "/CN=provider.lab",
        ],
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:provider.lab,IP:198.18.1.10\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "provider.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "provider.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    );
}

#[test]
fn calls_over_tls_to_and_from_a_real_tls_provider() {
    if !require(&["ip", "sipp", "kamailio", "openssl", "python3"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_certs(d);
    std::fs::write(
        d.join("tls.cfg"),
        TLS_CFG.replace("__DIR__", &d.to_string_lossy()),
    )
    .unwrap();
    let kcfg = std::fs::read_to_string(repo_root().join("tests/kamailio/provider-tls.cfg"))
        .unwrap()
        .replace("__TLS_CFG__", &d.join("tls.cfg").to_string_lossy());
    std::fs::write(d.join("kamailio.cfg"), kcfg).unwrap();
    std::fs::write(d.join("drawbridge.toml"), CONFIG).unwrap();

    let mut lab = Lab::sbc(&[("provider", "198.18.1.10/24")]);
    // SIPp behind the provider's edge: its own address (not allowlisted at drawbridge).
    run_ok(
        lab.cmd("provider", "ip")
            .args(["addr", "add", "198.18.1.11/24", "dev", "eth0"]),
    );

    let klog = d.join("kamailio.log");
    let kcfg = d.join("kamailio.cfg");
    lab.spawn(
        "provider",
        "kamailio",
        &[
            "-f",
            kcfg.to_str().unwrap(),
            "-DD",
            "-E",
            "-m",
            "64",
            "-M",
            "8",
            "-Y",
            d.to_str().unwrap(),
            "-P",
            d.join("k.pid").to_str().unwrap(),
        ],
        &klog,
    );
    let log = d.join("drawbridge.log");
    let cfg = d.join("drawbridge.toml");
    lab.spawn(
        "dmz",
        binary(),
        &["run", "--config", cfg.to_str().unwrap()],
        &log,
    );
    wait_for_file(&log, "trunk connection up", Duration::from_secs(30));

    let scen = repo_root()
        .join("tests/sipp/uac_rtp.xml")
        .to_string_lossy()
        .into_owned();
    let sipp = |lab: &Lab, ns: &str, args: &[&str], name: &str| {
        let errors = d.join(format!("{name}-errors.log"));
        let mut all = vec!["60", "sipp"];
        all.extend_from_slice(args);
        all.extend_from_slice(&[
            "-nostdin",
            "-trace_err",
            "-error_file",
            errors.to_str().unwrap(),
        ]);
        let out = lab.output(ns, "timeout", &all);
        assert!(
            out.status.success(),
            "sipp {name} failed:\n{}\n{}\ndrawbridge:\n{}\nkamailio:\n{}",
            String::from_utf8_lossy(&out.stdout),
            std::fs::read_to_string(&errors).unwrap_or_default(),
            std::fs::read_to_string(&log).unwrap_or_default(),
            std::fs::read_to_string(&klog).unwrap_or_default()
        );
    };

    // Inbound over TLS: provider caller -> Kamailio -> TLS -> drawbridge -> PBX.
    lab.spawn(
        "pbx",
        "sipp",
        &[
            "-sn",
            "uas",
            "-i",
            "198.18.2.10",
            "-p",
            "5060",
            "-mp",
            "16000",
            "-rtp_echo",
            "-nostdin",
            "-timeout",
            "40",
            "-m",
            "2",
        ],
        &d.join("uas-pbx.log"),
    );
    std::thread::sleep(Duration::from_millis(300));
    sipp(
        &lab,
        "provider",
        &[
            "198.18.1.10:5060",
            "-sf",
            &scen,
            "-s",
            "100",
            "-i",
            "198.18.1.11",
            "-p",
            "5070",
            "-mp",
            "17000",
            "-m",
            "2",
            "-r",
            "2",
            "-timeout",
            "40",
        ],
        "inbound-tls",
    );

    // Outbound over TLS: PBX phone -> drawbridge -> TLS -> Kamailio -> provider callee.
    lab.spawn(
        "provider",
        "sipp",
        &[
            "-sn",
            "uas",
            "-i",
            "198.18.1.11",
            "-p",
            "5080",
            "-mp",
            "18000",
            "-rtp_echo",
            "-nostdin",
            "-timeout",
            "40",
            "-m",
            "2",
        ],
        &d.join("uas-provider.log"),
    );
    std::thread::sleep(Duration::from_millis(300));
    sipp(
        &lab,
        "pbx",
        &[
            "198.18.2.1:5080",
            "-sf",
            &scen,
            "-s",
            "004930123456",
            "-i",
            "198.18.2.10",
            "-p",
            "5090",
            "-mp",
            "19000",
            "-m",
            "2",
            "-r",
            "2",
            "-timeout",
            "40",
        ],
        "outbound-tls",
    );

    std::thread::sleep(Duration::from_millis(1200));
    let m = String::from_utf8_lossy(
        &lab.output("dmz", "python3", &["-c", METRICS_PY, "9090"])
            .stdout,
    )
    .into_owned();
    assert_eq!(
        metric(&m, "drawbridge_b2bua_calls_answered_total"),
        Some(4.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "drawbridge_b2bua_calls_active"),
        Some(0.0),
        "{m}"
    );
    assert!(
        metric(&m, "drawbridge_sip_tls_handshakes_total").unwrap_or(0.0) >= 1.0,
        "{m}"
    );
    assert!(
        metric(&m, "drawbridge_sip_outbound_connects_total").unwrap_or(0.0) >= 1.0,
        "{m}"
    );
}
