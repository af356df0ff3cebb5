//! Starting and stopping the real `switchboard` binary: the storage environment ([`TestEnv`]: a
//! temporary data dir and, with `SWITCHBOARD_TEST_DB=postgres`, a fresh PostgreSQL database),
//! the one way the suite builds a `switchboard` command line and environment, the server process
//! and its output, and [`TestApp`]'s life cycle (spawn, stop, restart, kill -9, CLI runs, logs,
//! a second instance on the same database).
//!
//! Nothing here sleeps to synchronise: waiting is done by reading the child's output (the
//! "listening" log line) or by polling with a deadline ([`poll_until`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::mpsc;

use super::store::TestStore;

/// Password of the bootstrap `admin` user (via `SWITCHBOARD_ADMIN_PASSWORD`). Distinctive so a
/// scan of the logs for it cannot match by accident.
pub const ADMIN_PASSWORD: &str = "Adm1n-Pw-9f2c7e41-secret";

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
    "SWITCHBOARD_STORAGE",
    "RUST_LOG",
];

// ---------------------------------------------------------------------------------------------
// Storage environment: data dir + (optionally) a dedicated PostgreSQL database
// ---------------------------------------------------------------------------------------------

/// A temporary data directory, the file store (the data dir's, or with
/// `SWITCHBOARD_TEST_STORAGE=s3` a random prefix in the test bucket, deleted again when this
/// value is dropped) and, on the PostgreSQL backend, a freshly created database that is dropped
/// again (`WITH (FORCE)`) when this value is dropped.
pub struct TestEnv {
    pub data_dir: tempfile::TempDir,
    /// `Some` on the PostgreSQL backend; `None` means the server's default SQLite URL.
    pub database_url: Option<String>,
    /// Where the server keeps file bytes (see `store.rs`).
    pub store: TestStore,
    /// Whether dropping this value deletes the store's S3 prefix (not for a peer sharing it).
    owns_store: bool,
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
        let store = TestStore::new(data_dir.path());
        if !is_postgres() {
            return TestEnv {
                data_dir,
                database_url: None,
                store,
                owns_store: true,
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
            store,
            owns_store: true,
            pg: Some(PgDatabase { admin_url, name }),
        }
    }

    pub fn data_dir_str(&self) -> &str {
        self.data_dir
            .path()
            .to_str()
            .expect("temporary data dir path is UTF-8")
    }

    /// A direct connection to this environment's database (SQLite file or PostgreSQL), for
    /// tests that must set what no endpoint sets (old timestamps, broken rows).
    pub async fn connect_db(&self) -> sea_orm::DatabaseConnection {
        let url = self
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}/switchboard.db?mode=rw", self.data_dir_str()));
        sea_orm::Database::connect(url.as_str())
            .await
            .expect("connect to the test database")
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

    /// `--storage s3://…` for `serve` on the S3 backend (the `AWS_*` variables are inherited);
    /// nothing for the default local store.
    pub fn serve_storage_args(&self) -> Vec<String> {
        match &self.store.storage_arg {
            Some(location) => vec!["--storage".to_owned(), location.clone()],
            None => Vec::new(),
        }
    }

    /// Runs `switchboard <args> --data-dir DIR [--database-url URL]` with `stdin` as its
    /// standard input and returns its output. Panics if it does not finish in time.
    pub async fn run_cli(&self, args: &[&str], stdin: &str) -> Output {
        let mut cmd = switchboard_command(self, args);
        cmd.stdin(Stdio::piped())
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

    /// Starts `switchboard serve` on this environment with default settings (the command line
    /// and environment of [`TestApp::spawn_in`]) and returns the bare child, for a test that
    /// watches the start itself and may kill it at any point: nothing waits for "listening" and
    /// nobody logs in. Standard output is piped, standard error discarded.
    pub fn spawn_server(&self) -> Child {
        let mut cmd = serve_command(self, &[], &[]);
        cmd.stdout(Stdio::piped()).stderr(Stdio::null());
        cmd.spawn().expect("spawn switchboard serve")
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if self.owns_store && self.store.s3.is_some() {
            // Never a panic here: this may run while a failed test unwinds.
            if let Err(e) = self.store.delete_all() {
                eprintln!(
                    "cannot delete the test prefix {:?}: {e}",
                    self.store.storage_arg
                );
            }
        }
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

// ---------------------------------------------------------------------------------------------
// The command line: one way to start every `switchboard` process of the suite
// ---------------------------------------------------------------------------------------------

/// Removes the server's settings ([`SCRUBBED_ENV`]) that the environment the tests run in could
/// set, and passes `SWITCHBOARD_TEST_RUST_LOG` on as `RUST_LOG`.
pub fn scrub_env(cmd: &mut Command) {
    for key in SCRUBBED_ENV {
        cmd.env_remove(key);
    }
    if let Ok(filter) = std::env::var("SWITCHBOARD_TEST_RUST_LOG") {
        cmd.env("RUST_LOG", filter);
    }
}

/// `switchboard <args> --data-dir DIR [--database-url URL]` for `env`, with the scrubbed
/// environment and `SWITCHBOARD_ADMIN_PASSWORD`.
fn switchboard_command(env: &TestEnv, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.args(args).args(env.storage_args());
    scrub_env(&mut cmd);
    cmd.env("SWITCHBOARD_ADMIN_PASSWORD", ADMIN_PASSWORD);
    cmd
}

/// `switchboard serve` on `env` on a port the OS picks on 127.0.0.1, with JSON logs, the extra
/// flags `args` and environment variables `envs`, and no standard input.
fn serve_command(env: &TestEnv, args: &[String], envs: &[(String, String)]) -> Command {
    let mut cmd = switchboard_command(
        env,
        &["serve", "--listen", "127.0.0.1:0", "--log-format", "json"],
    );
    cmd.args(env.serve_storage_args());
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null());
    cmd
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
// TestApp: spawn, stop, restart
// ---------------------------------------------------------------------------------------------

/// A running server (see [`TestApp::spawn`]) with a client and the admin's token. The request
/// helpers are in `http.rs`, the WebSocket and event log ones in `ws.rs`, the file store ones in
/// `files.rs`.
pub struct TestApp {
    pub client: reqwest::Client,
    pub addr: SocketAddr,
    /// Access token of the bootstrap `admin` user (refreshed by [`TestApp::restart`]).
    pub admin_token: String,
    pub admin_id: String,
    server: Option<ServerProcess>,
    logs: Arc<Mutex<Vec<String>>>,
    /// Every JSON response body received (see `TestApp::send`).
    pub(super) responses: Arc<Mutex<Vec<Value>>>,
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
        let mut cmd = serve_command(&self.env, &self.args, &self.envs);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
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

    /// Starts the server again after [`TestApp::stop`] or a kill (with the current flags), and
    /// logs in as admin again.
    pub async fn start_again(&mut self) {
        self.start().await;
    }

    /// Replaces the extra `serve` flags for the next start.
    pub fn set_args(&mut self, args: &[&str]) {
        self.args = args.iter().map(|s| (*s).to_owned()).collect();
    }

    /// SIGKILL (no graceful shutdown), then start again on the same data dir / database with
    /// the same flags, and log in as admin again.
    pub async fn kill9_and_restart(&mut self) {
        let status = self.stop_with_signal("KILL").await;
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "switchboard should have died of SIGKILL, got {status}"
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
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Kill the process first so the database can be dropped afterwards (by `env`'s Drop).
        self.server.take();
    }
}

// ---------------------------------------------------------------------------------------------
// Second instance on the same database (multi-instance deployments, PostgreSQL)
// ---------------------------------------------------------------------------------------------

impl TestEnv {
    /// A fresh data dir on the same database as `self`, and on S3 the same bucket prefix (a
    /// local store stays per data dir). Database and prefix stay owned by `self` (dropping the
    /// returned value deletes neither).
    pub fn sharing_database(&self) -> TestEnv {
        let data_dir = tempfile::Builder::new()
            .prefix("switchboard-test-peer-")
            .tempdir()
            .expect("create temporary data dir");
        let store = match self.store.s3 {
            Some(_) => self.store.clone(),
            None => TestStore::new(data_dir.path()),
        };
        TestEnv {
            data_dir,
            database_url: self.database_url.clone(),
            store,
            owns_store: false,
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
// Waiting with a deadline
// ---------------------------------------------------------------------------------------------

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
