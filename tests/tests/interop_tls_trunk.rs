//! Interop over SIP-TLS, the default trunk transport: a real TLS peer (Kamailio with its
//! tls module) is the provider's edge, with SIPp behind it. Calls go both ways through
//! drawbridge; drawbridge verifies the provider's certificate against the configured CA.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::path::Path;
use std::time::Duration;

use drawbridge_tests::netns::{Lab, require, run_ok};
use drawbridge_tests::sipp::{Sipp, errors_file, scenario};
use drawbridge_tests::{assert_metrics, metric, repo_root};

const CONFIG: &str = r#"
[sip]
listen_tls = "198.18.1.2:5061"
advertised_host = "sbc.example.net"
{SELF_SIGNED_TLS}

{PROVIDER_TRUNK}
allow = ["198.18.1.10"]
transport = "tls"
port = 5061
[trunk.tls]
ca_file = "ca.pem"
sni = "provider.lab"

{PBX}

[media]
port_min = 30000
port_max = 30999
{MEDIA_ADDRESSES}

{ADMIN}
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

/// `openssl req` arguments for a new, unencrypted P-256 key.
const NEW_EC_KEY: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
];

fn make_certs(dir: &Path) {
    let ca = [
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=lab provider CA",
    ];
    openssl(
        dir,
        &[&["req", "-x509"][..], &NEW_EC_KEY, &ca, &["-days", "2"]].concat(),
    );
    let csr = ["-keyout", "provider.key", "-out", "provider.csr"];
    openssl(
        dir,
        &[
            &["req"][..],
            &NEW_EC_KEY,
            &csr,
            &["-subj", "/CN=provider.lab"],
        ]
        .concat(),
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

    let mut lab = Lab::sbc(&[("provider", "198.18.1.10/24")]);
    // SIPp behind the provider's edge: its own address (not allowlisted at drawbridge).
    lab.run_ok_in(
        "provider",
        "ip",
        &["addr", "add", "198.18.1.11/24", "dev", "eth0"],
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
    let log = lab.drawbridge_with(d, CONFIG, "trunk connection up", Duration::from_secs(30));

    let scen = scenario("uac_rtp.xml");
    let sipp = |lab: &Lab, ns: &str, sipp: Sipp, name: &str| {
        sipp.run(lab, ns, &errors_file(d, name), &[&log, &klog]);
    };

    // Inbound over TLS: provider caller -> Kamailio -> TLS -> drawbridge -> PBX.
    let uas = Sipp::uas().as_pbx().echo().timeout(40).calls(2);
    uas.spawn(&mut lab, "pbx", &d.join("uas-pbx.log"));
    let caller = Sipp::file(&scen)
        .at("198.18.1.11", 5070)
        .media(17000)
        .to("198.18.1.10:5060", "100");
    sipp(
        &lab,
        "provider",
        caller.calls(2).rate(2).timeout(40),
        "inbound-tls",
    );

    // Outbound over TLS: PBX phone -> drawbridge -> TLS -> Kamailio -> provider callee.
    let uas = Sipp::uas().at("198.18.1.11", 5080).media(18000);
    let uas = uas.echo().timeout(40).calls(2);
    uas.spawn(&mut lab, "provider", &d.join("uas-provider.log"));
    let caller = Sipp::file(&scen).as_pbx_phone("004930123456");
    sipp(
        &lab,
        "pbx",
        caller.calls(2).rate(2).timeout(40),
        "outbound-tls",
    );

    let m = lab.metrics(Duration::from_millis(1200));
    assert_metrics(
        &m,
        &[
            ("drawbridge_b2bua_calls_answered_total", 4.0),
            ("drawbridge_b2bua_calls_active", 0.0),
        ],
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
