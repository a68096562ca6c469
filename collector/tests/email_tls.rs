//! The email channel over encrypted SMTP with authentication, against a real server
//! (aiosmtpd from PyPI, `tests/smtp/tls_server.py`) whose certificate comes from the
//! collector's own development CA: STARTTLS required, implicit TLS (SMTPS), a wrong
//! password (a permanent error, nothing sent) and an untrusted certificate (refused).
//!
//! Needs `python3 -m aiosmtpd`; without it the test says SKIP, unless
//! `FLEETLOG_REQUIRE_AIOSMTPD=1` (set by `.ci/run`), when it fails.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use fleetlog_collector::alerts::payload::Notification;
use fleetlog_collector::config::TlsSource;
use fleetlog_collector::notify::email::{self, Settings};
use serde_json::json;

const USER: &str = "fleetlog";
const PASSWORD: &str = "s3cret-pass";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(mode: &str, port: u16, certs: &Path, out: &Path) -> Server {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/tls_server.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args([mode, &port.to_string()])
        .arg(certs.join("server.pem"))
        .arg(certs.join("server-key.pem"))
        .args([USER, PASSWORD])
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "the SMTP server did not start");
    Server(child)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn settings(tls: &str, port: u16, password: &str, ca: Option<&Path>) -> Settings {
    let mut config = json!({"host": "127.0.0.1", "port": port, "tls": tls,
        "from": "fleetlog <alerts@fleet.example>", "to": "oncall@fleet.example",
        "username": USER});
    if let Some(ca) = ca {
        config["ca_file"] = json!(ca.display().to_string());
    }
    let secrets = json!({ "password": password });
    email::settings(config.as_object().unwrap(), secrets.as_object().unwrap()).unwrap()
}

fn mails(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn email_goes_over_starttls_and_implicit_tls_with_auth() {
    let has_aiosmtpd = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_aiosmtpd {
        assert!(
            std::env::var("FLEETLOG_REQUIRE_AIOSMTPD").as_deref() != Ok("1"),
            "aiosmtpd is required (FLEETLOG_REQUIRE_AIOSMTPD=1) but python3 cannot import it"
        );
        println!("SKIP email_tls: python3 -m pip install aiosmtpd");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    fleetlog_collector::tls::load_or_create(&certs, &TlsSource::Development).unwrap();
    let ca = certs.join("ca.pem");
    let n = Notification::test("mail", "http://127.0.0.1:8080", 1_700_000_000_000);

    for mode in ["starttls", "implicit"] {
        let tls = if mode == "starttls" {
            "starttls"
        } else {
            "tls"
        };
        let out = dir.path().join(mode);
        std::fs::create_dir_all(&out).unwrap();
        let port = free_port();
        let _server = start(mode, port, &certs, &out);

        email::send(&settings(tls, port, PASSWORD, Some(&ca)), &n, "k1")
            .await
            .unwrap_or_else(|e| panic!("{mode}: {}", e.message));
        let got = mails(&out);
        assert_eq!(got.len(), 1, "{mode}: one message");
        assert!(
            got[0].contains("X-Test-Transport: tls"),
            "{mode}: {}",
            got[0]
        );
        assert!(got[0].contains("X-Test-Auth: True"), "{mode}: {}", got[0]);
        assert!(got[0].contains(&n.title()), "{mode}: the subject");

        let wrong = email::send(&settings(tls, port, "wrong", Some(&ca)), &n, "k2")
            .await
            .unwrap_err();
        assert!(
            wrong.permanent,
            "{mode}: a refused login is permanent: {}",
            wrong.message
        );
        assert!(
            !wrong.message.contains("wrong"),
            "{mode}: the password leaked"
        );

        let untrusted = email::send(&settings(tls, port, PASSWORD, None), &n, "k3")
            .await
            .unwrap_err();
        assert_eq!(mails(&out).len(), 1, "{mode}: nothing else was accepted");
        println!(
            "email_tls {mode}: delivered 1 with auth over TLS; wrong password → {} (permanent {}); untrusted certificate → {}",
            wrong.message, wrong.permanent, untrusted.message
        );
    }
}
