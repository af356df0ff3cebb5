//! A real SMTP server process for the mail tests: `tests/support/smtp_sink.py` on aiosmtpd
//! (PyPI), started on a loopback port per test; every received message is read back as JSON.
//!
//! The Python comes from `SWITCHBOARD_TEST_SMTP_PYTHON`, else `target/smtp-venv` (created with
//! aiosmtpd on first use; `.ci/run` creates it up front).

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::Mutex,
    time::Duration,
};

use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

use super::poll_until;

const AIOSMTPD: &str = "aiosmtpd==1.4.6";

pub struct SmtpSink {
    pub port: u16,
    dir: tempfile::TempDir,
    _child: Child,
}

static VENV_LOCK: Mutex<()> = Mutex::new(());

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("SWITCHBOARD_TEST_SMTP_PYTHON") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join("target/smtp-venv");
    let py = venv.join("bin/python");
    let _guard = VENV_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let ready = std::process::Command::new(&py)
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    if !ready {
        let made = std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 -m venv");
        assert!(made.success(), "creating {} failed", venv.display());
        let pip = std::process::Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                AIOSMTPD,
            ])
            .status()
            .expect("pip install aiosmtpd");
        assert!(pip.success(), "pip install {AIOSMTPD} failed");
    }
    py
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let dir = tempfile::tempdir().expect("mail dir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let mut child = Command::new(python())
            .arg(&script)
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start the SMTP sink");
        let stdout = child.stdout.take().expect("sink stdout");
        let mut line = String::new();
        tokio::time::timeout(
            Duration::from_secs(30),
            BufReader::new(stdout).read_line(&mut line),
        )
        .await
        .expect("the SMTP sink did not start within 30 s")
        .expect("read the sink's port");
        let port = line.trim().parse().expect("the sink prints its port");
        SmtpSink {
            port,
            dir,
            _child: child,
        }
    }

    /// The `--smtp-url` for the server.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, in order.
    pub fn messages(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("read mail dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).expect("read mail")).expect("json"))
            .collect()
    }

    /// Messages to `address`.
    pub fn messages_to(&self, address: &str) -> Vec<Value> {
        self.messages()
            .into_iter()
            .filter(|m| {
                m["rcpt_to"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|a| a.as_str() == Some(address)))
            })
            .collect()
    }

    /// Waits for the `n`th message (1-based) to `address`.
    pub async fn wait_for(&self, address: &str, n: usize, within: Duration) -> Value {
        let arrived = poll_until(within, || async { self.messages_to(address).len() >= n }).await;
        assert!(
            arrived,
            "no message #{n} to {address} within {within:?}; got {:?}",
            self.messages()
        );
        self.messages_to(address)[n - 1].clone()
    }
}

/// The token of the first `…<marker>token=…` link in a message's plain text.
pub fn link_token(message: &Value, marker: &str) -> String {
    let text = message["text"].as_str().expect("a plain-text part");
    let start = text
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} link in {text}"))
        + marker.len();
    text[start..]
        .split_whitespace()
        .next()
        .expect("token")
        .to_owned()
}
