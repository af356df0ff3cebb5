//! Test harness: runs the real `switchboard` binary as a child process against its own
//! temporary data directory (SQLite) or its own fresh PostgreSQL database
//! (`SWITCHBOARD_TEST_DB=postgres`), and offers small HTTP helpers and assertions.
//!
//! Nothing here sleeps to synchronise: waiting is done by reading the child's output
//! (the "listening" log line) or by polling with a deadline.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Password of the bootstrap `admin` user (via `SWITCHBOARD_ADMIN_PASSWORD`). Distinctive so a
/// scan of the logs for it cannot match by accident.
pub const ADMIN_PASSWORD: &str = "Adm1n-Pw-9f2c7e41-secret";
/// Password given to every user created through [`TestApp::create_user`].
pub const USER_PASSWORD: &str = "password-123";

/// How long the server may take to print its "listening" line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a graceful shutdown may take.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a CLI subcommand may take.
const CLI_TIMEOUT: Duration = Duration::from_secs(60);
/// Interval between polls while waiting for something with a deadline.
const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// Environment variables of the server that would change the test setup if inherited.
const SCRUBBED_ENV: &[&str] = &[
    "DATABASE_URL",
    "SWITCHBOARD_LISTEN",
    "SWITCHBOARD_DATA_DIR",
    "SWITCHBOARD_JWT_SECRET",
    "SWITCHBOARD_MAX_UPLOAD_BYTES",
    "SWITCHBOARD_ACCESS_TOKEN_TTL_SECS",
    "SWITCHBOARD_REFRESH_TOKEN_TTL_SECS",
    "SWITCHBOARD_LOGIN_MAX_FAILURES_PER_USER",
    "SWITCHBOARD_LOGIN_MAX_FAILURES_PER_IP",
    "SWITCHBOARD_LOGIN_FAILURE_WINDOW_SECS",
    "SWITCHBOARD_JSON_BODY_LIMIT_BYTES",
    "SWITCHBOARD_HEADER_READ_TIMEOUT_SECS",
    "SWITCHBOARD_BODY_IDLE_TIMEOUT_SECS",
    "SWITCHBOARD_LOG_FORMAT",
    "RUST_LOG",
];

// ---------------------------------------------------------------------------------------------
// Storage environment: data dir + (optionally) a dedicated PostgreSQL database
// ---------------------------------------------------------------------------------------------

/// A temporary data directory and, on the PostgreSQL backend, a freshly created database that
/// is dropped again (`WITH (FORCE)`) when this value is dropped.
pub struct TestEnv {
    pub data_dir: tempfile::TempDir,
    /// `Some` on the PostgreSQL backend; `None` means the server's default SQLite URL.
    pub database_url: Option<String>,
    pg: Option<PgDatabase>,
}

struct PgDatabase {
    admin_url: String,
    name: String,
}

/// True when the suite runs against PostgreSQL.
pub fn is_postgres() -> bool {
    std::env::var("SWITCHBOARD_TEST_DB").is_ok_and(|v| v.eq_ignore_ascii_case("postgres"))
}

impl TestEnv {
    pub async fn new() -> TestEnv {
        let data_dir = tempfile::Builder::new()
            .prefix("switchboard-test-")
            .tempdir()
            .expect("create temporary data dir");
        if !is_postgres() {
            return TestEnv {
                data_dir,
                database_url: None,
                pg: None,
            };
        }
        let admin_url = std::env::var("SWITCHBOARD_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let name = format!("sb_test_{}", uuid::Uuid::new_v4().simple());
        let conn = sea_orm::Database::connect(admin_url.as_str())
            .await
            .unwrap_or_else(|e| panic!("connect to PostgreSQL at {admin_url}: {e}"));
        sea_orm::ConnectionTrait::execute_unprepared(&conn, &format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let _ = conn.close().await;
        let mut url = reqwest::Url::parse(&admin_url)
            .unwrap_or_else(|e| panic!("SWITCHBOARD_TEST_PG_URL {admin_url:?} is not a URL: {e}"));
        url.set_path(&format!("/{name}"));
        TestEnv {
            data_dir,
            database_url: Some(url.to_string()),
            pg: Some(PgDatabase { admin_url, name }),
        }
    }

    pub fn data_dir_str(&self) -> &str {
        self.data_dir
            .path()
            .to_str()
            .expect("temporary data dir path is UTF-8")
    }

    /// `--data-dir` (and `--database-url` on PostgreSQL) for this environment.
    pub fn storage_args(&self) -> Vec<String> {
        let mut args = vec!["--data-dir".to_owned(), self.data_dir_str().to_owned()];
        if let Some(url) = &self.database_url {
            args.push("--database-url".to_owned());
            args.push(url.clone());
        }
        args
    }

    /// Runs `switchboard <args> --data-dir DIR [--database-url URL]` with `stdin` as its
    /// standard input and returns its output. Panics if it does not finish in time.
    pub async fn run_cli(&self, args: &[&str], stdin: &str) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        cmd.args(args).args(self.storage_args());
        scrub_env(&mut cmd);
        cmd.env("SWITCHBOARD_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn switchboard {args:?}: {e}"));
        let pid = child.id();
        let mut child_stdin = child.stdin.take().expect("child stdin is piped");
        let input = stdin.to_owned();
        // Write on a thread so a child that does not read stdin cannot block us; a closed pipe
        // (child exited early) is not an error here, the exit status tells the story.
        let writer = std::thread::spawn(move || {
            let _ = child_stdin.write_all(input.as_bytes());
        });
        let waiter = tokio::task::spawn_blocking(move || child.wait_with_output());
        let output = match tokio::time::timeout(CLI_TIMEOUT, waiter).await {
            Ok(joined) => joined
                .expect("CLI waiter task panicked")
                .unwrap_or_else(|e| panic!("wait for switchboard {args:?}: {e}")),
            Err(_) => {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                panic!("switchboard {args:?} did not finish within {CLI_TIMEOUT:?}");
            }
        };
        let _ = writer.join();
        output
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let Some(pg) = self.pg.take() else { return };
        // Drop may run inside a tokio runtime, so use a separate thread with its own runtime.
        let handle = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("cannot build runtime to drop database {}: {e}", pg.name);
                    return;
                }
            };
            runtime.block_on(async {
                match sea_orm::Database::connect(pg.admin_url.as_str()).await {
                    Ok(conn) => {
                        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", pg.name);
                        if let Err(e) =
                            sea_orm::ConnectionTrait::execute_unprepared(&conn, &sql).await
                        {
                            eprintln!("failed to drop test database {}: {e}", pg.name);
                        }
                        let _ = conn.close().await;
                    }
                    Err(e) => eprintln!("cannot connect to drop database {}: {e}", pg.name),
                }
            });
        });
        let _ = handle.join();
    }
}

pub fn scrub_env(cmd: &mut Command) {
    for key in SCRUBBED_ENV {
        cmd.env_remove(key);
    }
    if let Ok(filter) = std::env::var("SWITCHBOARD_TEST_RUST_LOG") {
        cmd.env("RUST_LOG", filter);
    }
}

// ---------------------------------------------------------------------------------------------
// The server process
// ---------------------------------------------------------------------------------------------

enum OutputEvent {
    Line(String),
    Eof,
}

/// A running server process. Killed (SIGKILL) on drop if still running.
struct ServerProcess {
    child: Child,
    readers: Vec<JoinHandle<()>>,
}

impl ServerProcess {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn join_readers(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        self.join_readers();
    }
}

fn spawn_reader(
    stream: impl Read + Send + 'static,
    logs: Arc<Mutex<Vec<String>>>,
    events: mpsc::UnboundedSender<OutputEvent>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let reader = BufReader::new(stream);
        for line in reader.split(b'\n') {
            let Ok(bytes) = line else { break };
            let line = String::from_utf8_lossy(&bytes)
                .trim_end_matches('\r')
                .to_owned();
            logs.lock()
                .expect("log buffer lock poisoned")
                .push(line.clone());
            let _ = events.send(OutputEvent::Line(line));
        }
        let _ = events.send(OutputEvent::Eof);
    })
}

/// Extracts the listen address from a JSON log line
/// `{"fields":{"message":"listening","addr":"127.0.0.1:PORT"}, ...}`.
fn parse_listening(line: &str) -> Option<SocketAddr> {
    let v: Value = serde_json::from_str(line).ok()?;
    let fields = if v.get("fields").is_some() {
        &v["fields"]
    } else {
        &v
    };
    if fields.get("message")?.as_str()? != "listening" {
        return None;
    }
    fields.get("addr")?.as_str()?.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// HTTP response wrapper
// ---------------------------------------------------------------------------------------------

/// A fully read HTTP response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub method: Method,
    pub url: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    /// The body parsed as JSON, or `Value::Null` if it is empty or not JSON.
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    /// Panics (with the response) unless the status is `status`.
    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Resp {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{} {}: expected HTTP {status}, got {} with body: {}",
            self.method,
            self.url,
            self.status,
            self.text
        );
        self
    }

    /// The `access_token` of a login/refresh response.
    #[track_caller]
    pub fn access_token(&self) -> String {
        self.body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token in {}", self.text))
            .to_owned()
    }

    #[track_caller]
    pub fn refresh_token(&self) -> String {
        self.body["refresh_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no refresh_token in {}", self.text))
            .to_owned()
    }
}

// ---------------------------------------------------------------------------------------------
// TestApp
// ---------------------------------------------------------------------------------------------

pub struct TestApp {
    pub client: reqwest::Client,
    pub addr: SocketAddr,
    /// Access token of the bootstrap `admin` user (refreshed by [`TestApp::restart`]).
    pub admin_token: String,
    pub admin_id: String,
    server: Option<ServerProcess>,
    logs: Arc<Mutex<Vec<String>>>,
    responses: Arc<Mutex<Vec<Value>>>,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    // Declared last: dropped after the server process is gone (see `Drop for TestApp`).
    pub env: TestEnv,
}

impl TestApp {
    /// Starts a server with default settings and logs in as `admin`.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(&[], &[]).await
    }

    /// Starts a server with extra `serve` flags and environment variables.
    pub async fn spawn_with(args: &[&str], envs: &[(&str, &str)]) -> TestApp {
        let env = TestEnv::new().await;
        TestApp::spawn_in(env, args, envs).await
    }

    /// Starts a server on an existing storage environment.
    pub async fn spawn_in(env: TestEnv, args: &[&str], envs: &[(&str, &str)]) -> TestApp {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("build reqwest client");
        let mut app = TestApp {
            client,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_token: String::new(),
            admin_id: String::new(),
            server: None,
            logs: Arc::new(Mutex::new(Vec::new())),
            responses: Arc::new(Mutex::new(Vec::new())),
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            envs: envs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            env,
        };
        app.start().await;
        app
    }

    async fn start(&mut self) {
        assert!(self.server.is_none(), "server already running");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(self.env.storage_args())
            .args(&self.args);
        scrub_env(&mut cmd);
        cmd.env("SWITCHBOARD_ADMIN_PASSWORD", ADMIN_PASSWORD);
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn switchboard serve");
        let (tx, mut rx) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("child stdout is piped");
        let stderr = child.stderr.take().expect("child stderr is piped");
        let readers = vec![
            spawn_reader(stdout, self.logs.clone(), tx.clone()),
            spawn_reader(stderr, self.logs.clone(), tx),
        ];
        let mut server = ServerProcess { child, readers };

        let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
        let mut open_streams = 2;
        let addr = loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(OutputEvent::Line(line))) => {
                    if let Some(addr) = parse_listening(&line) {
                        break addr;
                    }
                }
                Ok(Some(OutputEvent::Eof)) | Ok(None) => {
                    open_streams -= 1;
                    if open_streams == 0 {
                        let status = server.child.wait();
                        server.join_readers();
                        panic!(
                            "switchboard exited ({status:?}) before logging \"listening\"; output:\n{}",
                            self.logs_text()
                        );
                    }
                }
                Err(_) => {
                    drop(server); // kills the child
                    panic!(
                        "switchboard did not log \"listening\" within {STARTUP_TIMEOUT:?}; output:\n{}",
                        self.logs_text()
                    );
                }
            }
        };
        // The reader threads keep draining into `logs`; nobody needs the events any more.
        drop(rx);
        self.server = Some(server);
        self.addr = addr;

        let login = self.login("admin", ADMIN_PASSWORD).await;
        self.admin_token = login["access_token"]
            .as_str()
            .expect("admin login has access_token")
            .to_owned();
        self.admin_id = login["user"]["id"]
            .as_str()
            .expect("admin login has user.id")
            .to_owned();
    }

    /// Sends SIGTERM, waits for the process to exit (with a deadline) and returns its exit
    /// status. All output is collected in [`TestApp::logs`] once this returns.
    pub async fn stop(&mut self) -> ExitStatus {
        self.stop_with_signal("TERM").await
    }

    /// Like [`TestApp::stop`] with another signal name (e.g. "INT").
    pub async fn stop_with_signal(&mut self, signal: &str) -> ExitStatus {
        let mut server = self.server.take().expect("server is not running");
        let pid = server.pid().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("run `kill`");
        assert!(sent.success(), "kill -{signal} {pid} failed: {sent}");
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        let status = loop {
            match server.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => tokio::time::sleep(POLL_INTERVAL).await,
                Ok(None) => {
                    drop(server); // SIGKILL
                    panic!(
                        "switchboard did not exit within {SHUTDOWN_TIMEOUT:?} after SIG{signal}; output:\n{}",
                        self.logs_text()
                    );
                }
                Err(e) => panic!("waiting for switchboard: {e}"),
            }
        };
        server.join_readers();
        status
    }

    /// Graceful restart: SIGTERM (asserting exit code 0), then start again on the same data
    /// dir / database with the same flags, and log in as admin again.
    pub async fn restart(&mut self) {
        let status = self.stop().await;
        assert_eq!(
            status.code(),
            Some(0),
            "switchboard exited with {status} on SIGTERM; output:\n{}",
            self.logs_text()
        );
        self.start().await;
    }

    /// Runs a CLI subcommand against this app's data dir / database.
    pub async fn run_cli(&self, args: &[&str], stdin: &str) -> Output {
        self.env.run_cli(args, stdin).await
    }

    /// Every line the server process(es) wrote to stdout and stderr so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().expect("log buffer lock poisoned").clone()
    }

    pub fn logs_text(&self) -> String {
        self.logs().join("\n")
    }

    /// Every JSON response body received through this app's helpers.
    pub fn responses(&self) -> Vec<Value> {
        self.responses
            .lock()
            .expect("response buffer lock poisoned")
            .clone()
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// Sends a request, reads the whole body and records it (for secret scans).
    pub async fn send(&self, request: RequestBuilder) -> Resp {
        let request = request.build().expect("build request");
        let method = request.method().clone();
        let url = request.url().to_string();
        let response = self
            .client
            .execute(request)
            .await
            .unwrap_or_else(|e| panic!("{method} {url} failed: {e}"));
        let status = response.status();
        let headers = response.headers().clone();
        let text = response
            .text()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: reading body failed: {e}"));
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !body.is_null() {
            self.responses
                .lock()
                .expect("response buffer lock poisoned")
                .push(body.clone());
        }
        Resp {
            method,
            url,
            status,
            headers,
            text,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.send(self.req(Method::GET, path).bearer_auth(token))
            .await
    }

    pub async fn get_anon(&self, path: &str) -> Resp {
        self.send(self.req(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.send(self.req(Method::POST, path).bearer_auth(token).json(body))
            .await
    }

    pub async fn post_anon(&self, path: &str, body: &Value) -> Resp {
        self.send(self.req(Method::POST, path).json(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.send(self.req(Method::PATCH, path).bearer_auth(token).json(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.send(self.req(Method::DELETE, path).bearer_auth(token))
            .await
    }

    /// `POST /api/auth/login` without any expectation on the outcome.
    pub async fn try_login(&self, username: &str, password: &str) -> Resp {
        self.post_anon(
            "/api/auth/login",
            &json!({"username": username, "password": password}),
        )
        .await
    }

    /// Logs in and returns the response body; panics unless 200.
    pub async fn login(&self, username: &str, password: &str) -> Value {
        let resp = self.try_login(username, password).await;
        assert_eq!(
            resp.status,
            StatusCode::OK,
            "login as {username:?} failed: {} {}",
            resp.status,
            resp.text
        );
        resp.body
    }

    /// Access token of `username`, who must have password [`USER_PASSWORD`].
    pub async fn token_for(&self, username: &str) -> String {
        self.login(username, USER_PASSWORD).await["access_token"]
            .as_str()
            .expect("login response has access_token")
            .to_owned()
    }

    /// Creates a user as admin (email `<username>@example.com`, password [`USER_PASSWORD`]) and
    /// returns the created user; panics unless 201.
    pub async fn create_user(&self, username: &str, role: &str) -> Value {
        self.create_user_with(&json!({
            "username": username,
            "email": format!("{username}@example.com"),
            "password": USER_PASSWORD,
            "role": role,
        }))
        .await
    }

    /// Creates a user from a full request body as admin; panics unless 201.
    pub async fn create_user_with(&self, body: &Value) -> Value {
        let resp = self.post("/api/users", &self.admin_token, body).await;
        assert_eq!(
            resp.status,
            StatusCode::CREATED,
            "creating user {body} failed: {} {}",
            resp.status,
            resp.text
        );
        resp.body
    }

    /// Creates several users concurrently (see [`TestApp::create_user`]), in input order.
    pub async fn create_users(&self, users: &[(&str, &str)]) -> Vec<Value> {
        futures_util::future::join_all(
            users
                .iter()
                .map(|(username, role)| self.create_user(username, role)),
        )
        .await
    }

    /// PATCH a user as admin; panics unless 200.
    /// Until `until`: create a user named `<prefix>_<i>`, then patch its display name four
    /// times. Returns every write as `(event type it must produce, REST response body)`.
    pub async fn write_users_until(
        &self,
        prefix: &str,
        until: Instant,
    ) -> Vec<(&'static str, Value)> {
        let mut writes = Vec::new();
        let mut i = 0;
        while Instant::now() < until {
            let created = self.create_user(&format!("{prefix}_{i}"), "viewer").await;
            let id = created["id"].as_str().expect("user id").to_owned();
            writes.push(("user.created", created));
            for k in 0..4 {
                let body = json!({"display_name": format!("{prefix} #{i}.{k}")});
                writes.push(("user.updated", self.admin_patch_user(&id, &body).await));
            }
            i += 1;
        }
        writes
    }

    pub async fn admin_patch_user(&self, id: &str, body: &Value) -> Value {
        let resp = self
            .patch(&format!("/api/users/{id}"), &self.admin_token, body)
            .await;
        resp.expect_status(200);
        resp.body
    }

    /// GET a user as admin; panics unless 200.
    pub async fn admin_get_user(&self, id: &str) -> Value {
        let resp = self
            .get(&format!("/api/users/{id}"), &self.admin_token)
            .await;
        resp.expect_status(200);
        resp.body
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Kill the process first so the database can be dropped afterwards (by `env`'s Drop).
        self.server.take();
    }
}

// ---------------------------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------------------------

/// Asserts the status and the error envelope
/// `{"error": {"code": code, "message": "…"[, "fields": {…}]}}` with a JSON content type;
/// `fields` must be present (non-empty) exactly for `validation_failed`.
#[track_caller]
pub fn assert_error(resp: &Resp, status: u16, code: &str) {
    resp.expect_status(status);
    assert_envelope(resp);
    assert_eq!(
        resp.body["error"]["code"], code,
        "{} {}: expected error code {code:?}, body: {}",
        resp.method, resp.url, resp.text
    );
    let fields = &resp.body["error"]["fields"];
    if code == "validation_failed" {
        let map = fields.as_object().unwrap_or_else(|| {
            panic!(
                "{} {}: validation error without a fields object: {}",
                resp.method, resp.url, resp.text
            )
        });
        assert!(!map.is_empty(), "empty fields map: {}", resp.text);
        for (name, problem) in map {
            assert!(
                problem.as_str().is_some_and(|p| !p.is_empty()),
                "fields.{name} should be a non-empty string: {}",
                resp.text
            );
        }
    } else {
        assert!(
            fields.is_null(),
            "{} {}: `fields` is only for validation errors, body: {}",
            resp.method,
            resp.url,
            resp.text
        );
    }
}

/// Asserts the generic error envelope (JSON content type, `error.code` snake_case string,
/// `error.message` non-empty string) without checking status or code.
#[track_caller]
pub fn assert_envelope(resp: &Resp) {
    assert!(
        resp.content_type().starts_with("application/json"),
        "{} {}: error response content-type should be application/json, got {:?}; body: {}",
        resp.method,
        resp.url,
        resp.content_type(),
        resp.text
    );
    let error = resp.body.get("error").unwrap_or_else(|| {
        panic!(
            "{} {}: no `error` object in {} body: {:?}",
            resp.method, resp.url, resp.status, resp.text
        )
    });
    let code = error["code"]
        .as_str()
        .unwrap_or_else(|| panic!("error.code must be a string: {}", resp.text));
    assert!(
        !code.is_empty()
            && code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "error.code {code:?} is not snake_case"
    );
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error.message must be a non-empty string: {}",
        resp.text
    );
}

/// Asserts `error.fields` of a 422 contains every one of `names`.
#[track_caller]
pub fn assert_fields(resp: &Resp, names: &[&str]) {
    assert_error(resp, 422, "validation_failed");
    let fields = &resp.body["error"]["fields"];
    for name in names {
        assert!(
            fields.get(*name).is_some(),
            "expected fields.{name} in validation error: {}",
            resp.text
        );
    }
}

/// Asserts `v` is an RFC 3339 timestamp in UTC.
#[track_caller]
pub fn assert_utc_timestamp(v: &Value, what: &str) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what} should be an RFC 3339 string, got {v}"));
    let ts = chrono::DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{what} {s:?} is not RFC 3339: {e}"));
    assert_eq!(ts.offset().local_minus_utc(), 0, "{what} {s:?} is not UTC");
}

pub fn parse_ts(v: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    let s = v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}"));
    chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s:?} not RFC 3339: {e}"))
}

/// Asserts the User shape of the contract and the absence of password material.
#[track_caller]
pub fn assert_user_shape(user: &Value) {
    let obj = user
        .as_object()
        .unwrap_or_else(|| panic!("user should be an object: {user}"));
    assert!(
        user["id"].as_str().is_some_and(|s| !s.is_empty()),
        "user.id should be a non-empty string: {user}"
    );
    let username = user["username"]
        .as_str()
        .unwrap_or_else(|| panic!("user.username should be a string: {user}"));
    assert!(!username.is_empty(), "empty username: {user}");
    assert!(
        user["email"].is_string() || user["email"].is_null(),
        "user.email should be a string: {user}"
    );
    assert!(obj.contains_key("email"), "user.email missing: {user}");
    assert!(
        obj.contains_key("display_name")
            && (user["display_name"].is_string() || user["display_name"].is_null()),
        "user.display_name should be present, string or null: {user}"
    );
    assert!(
        matches!(user["role"].as_str(), Some("admin" | "viewer")),
        "user.role should be \"admin\" or \"viewer\": {user}"
    );
    assert!(
        user["disabled"].is_boolean(),
        "user.disabled should be bool: {user}"
    );
    assert!(
        user["version"].as_i64().is_some_and(|v| v >= 1),
        "user.version should be an integer >= 1: {user}"
    );
    assert_utc_timestamp(&user["created_at"], "user.created_at");
    assert_utc_timestamp(&user["updated_at"], "user.updated_at");
    assert!(
        obj.contains_key("last_login_at"),
        "user.last_login_at missing (should be null or a timestamp): {user}"
    );
    if !user["last_login_at"].is_null() {
        assert_utc_timestamp(&user["last_login_at"], "user.last_login_at");
    }
    assert_no_password_material(user, &[]);
}

/// Asserts the login/refresh response shape and returns `(access_token, refresh_token)`.
#[track_caller]
pub fn assert_token_pair(body: &Value) -> (String, String) {
    let access = body["access_token"]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| panic!("access_token should be a non-empty string: {body}"));
    assert_eq!(
        access.split('.').count(),
        3,
        "access_token should be a JWT (three dot-separated parts): {access}"
    );
    assert_eq!(body["token_type"], "Bearer", "token_type: {body}");
    let expires_in = body["expires_in"]
        .as_i64()
        .unwrap_or_else(|| panic!("expires_in should be an integer: {body}"));
    assert!(
        (1..=900).contains(&expires_in),
        "expires_in should be in 1..=900 seconds, got {expires_in}"
    );
    let refresh = body["refresh_token"]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| panic!("refresh_token should be a non-empty string: {body}"));
    assert_ne!(access, refresh, "access and refresh tokens must differ");
    assert_user_shape(&body["user"]);
    (access.to_owned(), refresh.to_owned())
}

/// Recursively asserts that no object key mentions a password or hash, no string looks like an
/// argon2 hash, and no string equals or contains one of `secrets`.
#[track_caller]
pub fn assert_no_password_material(v: &Value, secrets: &[&str]) {
    fn walk(v: &Value, secrets: &[&str], path: &str) -> Option<String> {
        match v {
            Value::Object(map) => map.iter().find_map(|(k, child)| {
                let lower = k.to_ascii_lowercase();
                if lower.contains("password") || lower.contains("hash") {
                    return Some(format!("key {path}.{k}"));
                }
                walk(child, secrets, &format!("{path}.{k}"))
            }),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, child)| walk(child, secrets, &format!("{path}[{i}]"))),
            Value::String(s) => {
                if s.contains("$argon2") {
                    return Some(format!("argon2 hash at {path}"));
                }
                secrets
                    .iter()
                    .find(|secret| s.contains(**secret))
                    .map(|secret| format!("secret {secret:?} at {path}"))
            }
            _ => None,
        }
    }
    if let Some(problem) = walk(v, secrets, "$") {
        panic!("password material in response ({problem}): {v}");
    }
}

/// Asserts a `Retry-After` header holding an integer number of seconds ≥ 1 and returns it.
#[track_caller]
pub fn assert_retry_after(resp: &Resp) -> u64 {
    let value = resp
        .header("retry-after")
        .unwrap_or_else(|| panic!("429 without Retry-After header: {:?}", resp.headers));
    let secs: u64 = value
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("Retry-After {value:?} is not an integer: {e}"));
    assert!(secs >= 1, "Retry-After should be >= 1, got {secs}");
    secs
}

/// The ids of the `items` of a list response.
#[track_caller]
pub fn item_ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("list response without items array: {list}"))
        .iter()
        .map(|u| u["id"].as_str().expect("item has string id").to_owned())
        .collect()
}

/// The `field` (a string) of each item of a list response.
#[track_caller]
pub fn item_strings(list: &Value, field: &str) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("list response without items array: {list}"))
        .iter()
        .map(|u| {
            u[field]
                .as_str()
                .unwrap_or_else(|| panic!("item.{field} is not a string: {u}"))
                .to_owned()
        })
        .collect()
}

/// Returns the decoded JSON payload (claims) of a JWT.
#[track_caller]
pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token
        .split('.')
        .nth(1)
        .unwrap_or_else(|| panic!("not a JWT: {token}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .unwrap_or_else(|e| panic!("JWT payload is not base64url: {e}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("JWT payload is not JSON: {e}"))
}

/// Polls `check` (every 25 ms) until it returns true or `timeout` passes; returns whether it
/// became true.
pub async fn poll_until<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Second instance on the same database (multi-instance deployments, PostgreSQL)
// ---------------------------------------------------------------------------------------------

impl TestEnv {
    /// A fresh data dir on the same database as `self`. The database stays owned by `self`
    /// (dropping the returned value does not drop it).
    pub fn sharing_database(&self) -> TestEnv {
        let data_dir = tempfile::Builder::new()
            .prefix("switchboard-test-peer-")
            .tempdir()
            .expect("create temporary data dir");
        TestEnv {
            data_dir,
            database_url: self.database_url.clone(),
            pg: None,
        }
    }
}

impl TestApp {
    /// Starts a second server on the same PostgreSQL database with the same flags (plus
    /// `extra_args`), its own data dir, and the same JWT secret: the flag's value if `self` was
    /// started with `--jwt-secret`, otherwise the secret `self` generated in its data dir.
    /// The returned app has logged in as `admin` through the new instance.
    pub async fn spawn_peer(&self, extra_args: &[&str]) -> TestApp {
        assert!(
            self.env.database_url.is_some(),
            "spawn_peer needs a shared database (SWITCHBOARD_TEST_DB=postgres)"
        );
        let mut args = self.args.clone();
        let has_secret = args
            .iter()
            .any(|a| a == "--jwt-secret" || a.starts_with("--jwt-secret="));
        if !has_secret {
            let path = self.env.data_dir.path().join("jwt_secret");
            let secret = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("read generated JWT secret {}: {e}", path.display()));
            args.push("--jwt-secret".to_owned());
            args.push(secret.trim().to_owned());
        }
        args.extend(extra_args.iter().map(|s| (*s).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let envs: Vec<(&str, &str)> = self
            .envs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        TestApp::spawn_in(self.env.sharing_database(), &args, &envs).await
    }

    /// The server's process id (panics if it is not running).
    pub fn pid(&self) -> u32 {
        self.server.as_ref().expect("server is not running").pid()
    }
}

// ---------------------------------------------------------------------------------------------
// WebSocket client (`/api/ws`) and the event log (`/api/events`)
// ---------------------------------------------------------------------------------------------

/// Default wait for one expected WebSocket frame.
pub const WS_TIMEOUT: Duration = Duration::from_secs(10);

/// What reading a WebSocket produced.
#[derive(Debug, Clone)]
pub enum WsRead {
    /// A text frame, parsed as JSON.
    Json(Value),
    /// A close frame: its code (`None` when it carried none) and reason.
    Close(Option<u16>, String),
    /// The connection ended without a close frame (EOF or error).
    Ended(String),
}

/// A WebSocket client connection to `/api/ws`.
pub struct WsClient {
    stream: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    /// Name used in failure messages.
    pub label: String,
    /// Set once a close frame or the end of the stream was read.
    pub ended: Option<WsRead>,
}

impl WsClient {
    /// Opens a WebSocket to `ws://addr/api/ws` (no auth message sent yet).
    pub async fn connect(addr: SocketAddr, label: &str) -> WsClient {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("[{label}] TCP connect to {addr}: {e}"));
        WsClient::handshake(tcp, addr, label).await
    }

    /// Like [`WsClient::connect`], with the socket's receive buffer set to `bytes` before
    /// connecting (for slow-consumer tests: the kernel can then hold only a few frames).
    pub async fn connect_with_recv_buffer(addr: SocketAddr, label: &str, bytes: u32) -> WsClient {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }
        .unwrap_or_else(|e| panic!("[{label}] create socket: {e}"));
        socket
            .set_recv_buffer_size(bytes)
            .unwrap_or_else(|e| panic!("[{label}] set_recv_buffer_size({bytes}): {e}"));
        let tcp = socket
            .connect(addr)
            .await
            .unwrap_or_else(|e| panic!("[{label}] TCP connect to {addr}: {e}"));
        WsClient::handshake(tcp, addr, label).await
    }

    async fn handshake(tcp: tokio::net::TcpStream, addr: SocketAddr, label: &str) -> WsClient {
        let url = format!("ws://{addr}/api/ws");
        let handshake = tokio_tungstenite::client_async(url.as_str(), tcp);
        let (stream, _response) = match tokio::time::timeout(WS_TIMEOUT, handshake).await {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => panic!("[{label}] WebSocket handshake with {url} failed: {e}"),
            Err(_) => panic!("[{label}] WebSocket handshake with {url} timed out"),
        };
        WsClient {
            stream,
            label: label.to_owned(),
            ended: None,
        }
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, text: &str) {
        use futures_util::SinkExt as _;
        use tokio_tungstenite::tungstenite::Message;
        let label = &self.label;
        match tokio::time::timeout(WS_TIMEOUT, self.stream.send(Message::text(text))).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("[{label}] sending {text:?} failed: {e}"),
            Err(_) => panic!("[{label}] sending {text:?} timed out"),
        }
    }

    /// Sends a JSON value as a text frame.
    pub async fn send_json(&mut self, value: &Value) {
        self.send_text(&value.to_string()).await;
    }

    /// Sends `{"type":"auth","token":token}`.
    pub async fn send_auth(&mut self, token: &str) {
        self.send_json(&json!({"type": "auth", "token": token}))
            .await;
    }

    /// Reads the next text frame, close frame or end of stream; `None` if nothing arrives
    /// within `within`. WebSocket ping/pong frames are skipped (tungstenite answers pings).
    /// Cancel-safe. Panics on a binary frame or a text frame that is not JSON.
    pub async fn read(&mut self, within: Duration) -> Option<WsRead> {
        use futures_util::StreamExt as _;
        use tokio_tungstenite::tungstenite::Message;
        if let Some(ended) = &self.ended {
            return Some(ended.clone());
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()?;
            let read = match next {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(text.as_str()).unwrap_or_else(|e| {
                        panic!(
                            "[{}] server sent a text frame that is not JSON ({e}): {:?}",
                            self.label,
                            text.as_str()
                        )
                    });
                    return Some(WsRead::Json(value));
                }
                Some(Ok(Message::Binary(bytes))) => panic!(
                    "[{}] server sent a binary frame ({} bytes); every message must be a JSON text frame",
                    self.label,
                    bytes.len()
                ),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Close(frame))) => match frame {
                    Some(f) => WsRead::Close(Some(u16::from(f.code)), f.reason.as_str().to_owned()),
                    None => WsRead::Close(None, String::new()),
                },
                Some(Err(e)) => WsRead::Ended(format!("error: {e}")),
                None => WsRead::Ended("end of stream".to_owned()),
            };
            self.ended = Some(read.clone());
            return Some(read);
        }
    }

    /// The next JSON frame within `within`; panics (naming `what`) on timeout or close.
    pub async fn next_json_within(&mut self, within: Duration, what: &str) -> Value {
        match self.read(within).await {
            Some(WsRead::Json(v)) => v,
            Some(other) => panic!(
                "[{}] waiting for {what}: connection ended instead: {other:?}",
                self.label
            ),
            None => panic!(
                "[{}] waiting for {what}: nothing arrived within {within:?}",
                self.label
            ),
        }
    }

    /// The next JSON frame (any type) within [`WS_TIMEOUT`].
    pub async fn next_json(&mut self, what: &str) -> Value {
        self.next_json_within(WS_TIMEOUT, what).await
    }

    /// The next JSON frame whose type is not `presence.*` (presence frames are skipped).
    pub async fn next_event(&mut self, what: &str) -> Value {
        loop {
            let v = self.next_json(what).await;
            if !is_presence(&v) {
                return v;
            }
        }
    }

    /// Reads until a close frame arrives within `within` and asserts its code; returns the JSON
    /// frames read before it.
    pub async fn expect_close(&mut self, code: u16, within: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + within;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.read(left).await {
                Some(WsRead::Json(v)) => before.push(v),
                Some(WsRead::Close(got, reason)) => {
                    assert_eq!(
                        got,
                        Some(code),
                        "[{}] expected close code {code}, got close frame {got:?} (reason {reason:?}) after {} frames",
                        self.label,
                        before.len()
                    );
                    return before;
                }
                Some(WsRead::Ended(how)) => panic!(
                    "[{}] expected close code {code}, but the connection ended without a close frame ({how}) after {} frames",
                    self.label,
                    before.len()
                ),
                None => panic!(
                    "[{}] expected close code {code} within {within:?}; still open after {} frames (last: {:?})",
                    self.label,
                    before.len(),
                    before.last()
                ),
            }
        }
    }

    /// Sends `{"type":"ping"}` and returns every JSON frame received before the
    /// `{"type":"pong"}`, which must arrive within [`WS_TIMEOUT`].
    pub async fn ping_barrier(&mut self) -> Vec<Value> {
        self.send_json(&json!({"type": "ping"})).await;
        let mut before = Vec::new();
        loop {
            let v = self.next_json("pong").await;
            if v == json!({"type": "pong"}) {
                return before;
            }
            before.push(v);
        }
    }

    /// Sends a close frame (code 1000) and reads until the server's close or the end.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(WS_TIMEOUT, self.stream.close(None)).await;
        let deadline = tokio::time::Instant::now() + WS_TIMEOUT;
        while self.ended.is_none() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if self.read(left).await.is_none() {
                break;
            }
        }
    }
}

/// True for `presence.*` frames.
pub fn is_presence(frame: &Value) -> bool {
    frame["type"]
        .as_str()
        .is_some_and(|t| t.starts_with("presence."))
}

/// The `seq` of a durable event frame (`None` for anything else).
pub fn frame_seq(frame: &Value) -> Option<i64> {
    frame.get("seq").and_then(Value::as_i64)
}

/// The durable event frames (non-null `seq`) of `frames`, in order.
pub fn durable(frames: &[Value]) -> Vec<Value> {
    frames
        .iter()
        .filter(|f| frame_seq(f).is_some())
        .cloned()
        .collect()
}

/// Asserts the envelope of an event frame: exactly the keys `type, seq, ts, actor, data`,
/// `ts` RFC 3339 UTC, `actor` null or exactly `{id, username}` strings, `data` an object.
#[track_caller]
pub fn assert_event_envelope(frame: &Value) {
    let obj = frame
        .as_object()
        .unwrap_or_else(|| panic!("event frame should be an object: {frame}"));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["actor", "data", "seq", "ts", "type"],
        "event frame keys: {frame}"
    );
    assert!(frame["type"].is_string(), "type must be a string: {frame}");
    assert!(
        frame["seq"].is_null() || frame["seq"].as_i64().is_some_and(|s| s >= 1),
        "seq must be null or a positive integer: {frame}"
    );
    assert_utc_timestamp(&frame["ts"], "event ts");
    let actor = &frame["actor"];
    if !actor.is_null() {
        let a = actor
            .as_object()
            .unwrap_or_else(|| panic!("actor must be null or an object: {frame}"));
        assert_eq!(
            a.len(),
            2,
            "actor must be exactly {{id, username}}: {frame}"
        );
        assert!(
            actor["id"].is_string() && actor["username"].is_string(),
            "actor must be {{id, username}} strings: {frame}"
        );
    }
    assert!(frame["data"].is_object(), "data must be an object: {frame}");
}

/// Asserts a durable event frame exactly: envelope, `type`, `seq`, `actor` and `data`.
#[track_caller]
pub fn assert_durable_event(frame: &Value, kind: &str, seq: i64, actor: &Value, data: &Value) {
    assert_event_envelope(frame);
    let expected = json!({
        "type": kind,
        "seq": seq,
        "ts": frame["ts"].clone(),
        "actor": actor,
        "data": data,
    });
    assert_eq!(frame, &expected, "unexpected event frame");
}

/// Asserts `frames` are durable events with seq `first, first+1, …` (gap-free, no duplicates)
/// ending at `last`.
#[track_caller]
pub fn assert_gap_free(frames: &[Value], first: i64, last: i64, what: &str) {
    let seqs: Vec<Option<i64>> = frames.iter().map(frame_seq).collect();
    let expected: Vec<Option<i64>> = (first..=last).map(Some).collect();
    if seqs != expected {
        let mismatch = seqs
            .iter()
            .zip(&expected)
            .position(|(a, b)| a != b)
            .unwrap_or(seqs.len().min(expected.len()));
        panic!(
            "{what}: expected seq {first}..={last} ({} events) gap-free, got {} frames; first difference at index {mismatch}: got {:?}, expected {:?}; seqs around it: {:?}",
            expected.len(),
            seqs.len(),
            seqs.get(mismatch),
            expected.get(mismatch),
            &seqs[mismatch.saturating_sub(3)..(mismatch + 4).min(seqs.len())]
        );
    }
}

/// A user's actor object `{id, username}` from a User.
pub fn actor_of(user: &Value) -> Value {
    json!({"id": user["id"], "username": user["username"]})
}

impl TestApp {
    /// `ws://…/api/ws` with an auth message for `token`; asserts the first frame is a
    /// `welcome` and returns it. Frames after the welcome are left unread.
    pub async fn ws(&self, token: &str, label: &str) -> (WsClient, Value) {
        ws_auth(self.addr, token, label).await
    }

    /// The actor object of the bootstrap admin.
    pub fn admin_actor(&self) -> Value {
        json!({"id": self.admin_id, "username": "admin"})
    }

    /// `GET /api/events{query}` with `token`; panics unless 200.
    pub async fn events_as(&self, query: &str, token: &str) -> Value {
        let resp = self.get(&format!("/api/events{query}"), token).await;
        resp.expect_status(200);
        assert!(
            resp.body["items"].is_array() && resp.body["latest_seq"].is_i64(),
            "GET /api/events{query}: expected {{items, latest_seq}}, got {}",
            resp.text
        );
        resp.body
    }

    /// `GET /api/events{query}` as admin.
    pub async fn events(&self, query: &str) -> Value {
        self.events_as(query, &self.admin_token).await
    }

    /// `latest_seq` of `GET /api/events`.
    pub async fn latest_seq(&self) -> i64 {
        self.events("?limit=1").await["latest_seq"]
            .as_i64()
            .expect("latest_seq is an integer")
    }

    /// Every event of the log with seq > `after`, read page by page (limit 1000).
    pub async fn event_log_after(&self, after: i64) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        let mut cursor = after;
        loop {
            let page = self.events(&format!("?after={cursor}&limit=1000")).await;
            let items = page["items"].as_array().expect("items array").clone();
            let latest = page["latest_seq"].as_i64().expect("latest_seq");
            let Some(last) = items.last().and_then(frame_seq) else {
                return out;
            };
            cursor = last;
            out.extend(items);
            if cursor >= latest {
                return out;
            }
        }
    }
}

/// Connects to `addr`, authenticates with `token` and returns the client and the welcome.
pub async fn ws_auth(addr: SocketAddr, token: &str, label: &str) -> (WsClient, Value) {
    let mut ws = WsClient::connect(addr, label).await;
    ws.send_auth(token).await;
    let welcome = ws.next_json("welcome").await;
    assert_eq!(
        welcome["type"], "welcome",
        "[{label}] first frame after auth should be the welcome: {welcome}"
    );
    (ws, welcome)
}

/// `value[key]` as an owned string; panics naming the key and the value when it is not one.
#[track_caller]
pub fn str_field(value: &Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key:?} in {value}"))
        .to_owned()
}

/// The `id` of a user, file or any other resource.
#[track_caller]
pub fn id_of(resource: &Value) -> String {
    str_field(resource, "id")
}

/// The `seq` of a welcome frame.
#[track_caller]
pub fn welcome_seq(welcome: &Value) -> i64 {
    welcome["seq"]
        .as_i64()
        .unwrap_or_else(|| panic!("welcome.seq should be an integer: {welcome}"))
}

/// A WebSocket read continuously by a background task, so the server never sees it as slow.
pub struct Collector {
    label: String,
    target: Arc<std::sync::atomic::AtomicI64>,
    frames: Arc<Mutex<Vec<Value>>>,
    handle: tokio::task::JoinHandle<(WsClient, Option<WsRead>)>,
}

/// What a [`Collector`] gathered.
pub struct Collected {
    pub ws: WsClient,
    /// Every JSON frame read (including presence and pongs), in order.
    pub frames: Vec<Value>,
}

impl Collector {
    /// Starts reading `ws` in the background.
    pub fn spawn(mut ws: WsClient) -> Collector {
        use std::sync::atomic::Ordering;
        let label = ws.label.clone();
        let target = Arc::new(std::sync::atomic::AtomicI64::new(i64::MAX));
        let frames = Arc::new(Mutex::new(Vec::new()));
        let (task_target, task_frames) = (target.clone(), frames.clone());
        let handle = tokio::spawn(async move {
            let mut last_seq = i64::MIN;
            loop {
                if last_seq >= task_target.load(Ordering::SeqCst) {
                    return (ws, None);
                }
                match ws.read(Duration::from_millis(50)).await {
                    None => continue,
                    Some(WsRead::Json(v)) => {
                        if let Some(seq) = frame_seq(&v) {
                            last_seq = last_seq.max(seq);
                        }
                        task_frames.lock().expect("frames lock").push(v);
                    }
                    Some(end) => return (ws, Some(end)),
                }
            }
        });
        Collector {
            label,
            target,
            frames,
            handle,
        }
    }

    /// A snapshot of the frames read so far.
    pub fn frames(&self) -> Vec<Value> {
        self.frames.lock().expect("frames lock").clone()
    }

    /// Waits (up to `within`) until a durable event with seq ≥ `last_seq` was read, and returns
    /// the connection with everything read. Panics if the connection ended or time ran out.
    pub async fn finish(self, last_seq: i64, within: Duration) -> Collected {
        self.target
            .store(last_seq, std::sync::atomic::Ordering::SeqCst);
        let label = self.label.clone();
        let mut handle = self.handle;
        let (ws, end) = match tokio::time::timeout(within, &mut handle).await {
            Ok(joined) => joined.unwrap_or_else(|e| panic!("[{label}] collector task failed: {e}")),
            Err(_) => {
                handle.abort();
                let frames = self.frames.lock().expect("frames lock").clone();
                let last = durable(&frames).last().cloned();
                panic!(
                    "[{label}] did not receive seq {last_seq} within {within:?}; read {} frames, last durable: {last:?}",
                    frames.len()
                );
            }
        };
        let frames = self.frames.lock().expect("frames lock").clone();
        if let Some(end) = end {
            let last = durable(&frames).last().and_then(frame_seq);
            panic!(
                "[{label}] connection ended ({end:?}) before seq {last_seq} arrived; last durable seq read: {last:?}"
            );
        }
        Collected { ws, frames }
    }
}
pub mod files;
