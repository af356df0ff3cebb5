//! argon2id hashing on a small pool of dedicated, lower-priority threads, so a burst of logins
//! can neither block the async runtime nor take the cores away from other requests.
//!
//! Stored hashes may also be older argon2 variants or bcrypt (imported users, docs/API.md §4.4):
//! they verify like argon2id ones, and [`needs_rehash`] tells the login to replace them.
//!
//! The threads exist only while there is hashing to do. Each hash takes 19 MiB, which the
//! allocator (mimalloc) hands back to the OS only after a purge delay and only when it next runs
//! its collection; an idle server never does, so that memory stayed resident. A thread exiting
//! runs that collection, so an idle hashing thread waits a little longer than the purge delay
//! and then ends; the next login starts a new one.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier, Version,
    password_hash::{SaltString, rand_core::OsRng},
};
use tokio::sync::oneshot;

use crate::error::{Error, Result};

/// OWASP's argon2id recommendation: 19 MiB, 2 iterations, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const LANES: u32 = 1;

/// Nice value of the hashing threads: under full load they get roughly a tenth of a core
/// each, so request latency stays flat while logins slow down instead.
const HASH_THREAD_NICE: i32 = 10;
/// Hash requests waiting for a thread; past this, callers wait (asynchronously) to enqueue.
const QUEUE: usize = 256;
/// An idle hashing thread ends after this long. Longer than mimalloc's purge delay (1 s), so
/// the collection at its exit finds the memory of its last hash due and returns it to the OS.
const IDLE_EXIT: Duration = Duration::from_secs(2);

/// Verified against when the user does not exist, so unknown users cost the same time. A hash
/// of a random password nobody kept, with the parameters above (a test checks they match);
/// a match would not count anyway. A constant rather than hashed at start-up: that hash cost
/// start-up time and 19 MiB.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$BbxFOzEF3LWH70tTuSnH/g$\
                          Ew5pz4uxf8SUXM7yiq6hgwdbNYwj2RW13JAkubgvQqs";

/// The stored "hash" of an account without a password (imported without one): no password
/// verifies against it, so logging in fails like a wrong password until one is set.
pub const NO_PASSWORD: &str = "!";

/// Bounds on imported hashes, which are verified at every login until upgraded: an argon2 hash
/// asking for gigabytes or a bcrypt cost of 31 would tie a hashing thread up for minutes.
const IMPORT_MAX_MEMORY_KIB: u32 = 256 * 1024;
const IMPORT_MAX_ITERATIONS: u32 = 16;
const IMPORT_MAX_LANES: u32 = 16;
const IMPORT_MIN_BCRYPT_COST: u32 = 4;
const IMPORT_MAX_BCRYPT_COST: u32 = 16;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Clone)]
pub struct PasswordHasher {
    jobs: flume::Sender<Job>,
    pool: Arc<Pool>,
}

struct Pool {
    queue: flume::Receiver<Job>,
    max_threads: usize,
    threads: Mutex<Threads>,
}

#[derive(Default)]
struct Threads {
    live: usize,
    /// Live threads waiting for a job.
    idle: usize,
}

impl Pool {
    fn threads(&self) -> std::sync::MutexGuard<'_, Threads> {
        // The counters stay consistent even if a holder panicked: no code under the lock can.
        self.threads.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn work(self: Arc<Self>) {
        // Best effort: without permission to renice, hashing still works.
        let tid = rustix::thread::gettid();
        let _ = rustix::process::setpriority_process(Some(tid), HASH_THREAD_NICE);
        loop {
            self.threads().idle += 1;
            let job = self.queue.recv_timeout(IDLE_EXIT);
            let mut threads = self.threads();
            threads.idle -= 1;
            match job {
                Ok(job) => {
                    drop(threads);
                    job();
                }
                // Checked under the lock a sender takes after enqueueing: either the sender
                // sees this thread gone and starts another, or this thread sees its job. A
                // closed channel (every hasher dropped) is empty too.
                Err(_) if self.queue.is_empty() => {
                    threads.live -= 1;
                    return;
                }
                Err(_) => {}
            }
        }
    }
}

fn argon2() -> Argon2<'static> {
    // The parameters are constants within argon2's limits, so this cannot fail at run time.
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))
}

/// The kinds of stored hash this server verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    /// A PHC string of argon2id, argon2i or argon2d (verified with its own parameters).
    Argon2,
    /// `$2a$`, `$2b$` or `$2y$` (the same algorithm; the letters name historic bug fixes).
    Bcrypt,
}

fn scheme(hash: &str) -> Option<Scheme> {
    if ["$argon2id$", "$argon2i$", "$argon2d$"]
        .iter()
        .any(|p| hash.starts_with(p))
    {
        Some(Scheme::Argon2)
    } else if ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)) {
        Some(Scheme::Bcrypt)
    } else {
        None
    }
}

fn verify_blocking(password: &str, hash: &str) -> bool {
    match scheme(hash) {
        Some(Scheme::Argon2) => PasswordHash::new(hash)
            .map(|parsed| {
                argon2()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false),
        Some(Scheme::Bcrypt) => bcrypt::verify(password, hash).unwrap_or(false),
        None => {
            // No password (or an unknown scheme): cost what a real check costs, then refuse, so
            // the answer's timing does not tell such accounts apart.
            let _ = verify_blocking(password, DUMMY_HASH);
            false
        }
    }
}

/// Whether `hash` is one this server can store and verify: an argon2 PHC string or a bcrypt
/// hash, with parameters a login can afford. The error says what is wrong (for the import
/// report).
pub fn check_stored_hash(hash: &str) -> std::result::Result<(), String> {
    match scheme(hash) {
        Some(Scheme::Argon2) => {
            let parsed = PasswordHash::new(hash)
                .map_err(|e| format!("is not a valid argon2 PHC string ({e})"))?;
            if parsed.salt.is_none() || parsed.hash.is_none() {
                return Err("is not a valid argon2 PHC string (no salt or no hash)".into());
            }
            if let Some(v) = parsed.version
                && Version::try_from(v).is_err()
            {
                return Err(format!("has an unknown argon2 version {v}"));
            }
            let params = Params::try_from(&parsed)
                .map_err(|e| format!("has invalid argon2 parameters ({e})"))?;
            if params.m_cost() > IMPORT_MAX_MEMORY_KIB
                || params.t_cost() > IMPORT_MAX_ITERATIONS
                || params.p_cost() > IMPORT_MAX_LANES
            {
                return Err(format!(
                    "asks for more than m={IMPORT_MAX_MEMORY_KIB}, t={IMPORT_MAX_ITERATIONS}, \
                     p={IMPORT_MAX_LANES}"
                ));
            }
            Ok(())
        }
        Some(Scheme::Bcrypt) => {
            // `$2b$12$` + 22 characters of salt + 31 of hash, in bcrypt's base64 alphabet.
            let mut parts = hash.splitn(4, '$').skip(2);
            let cost = parts.next().unwrap_or_default();
            let rest = parts.next().unwrap_or_default();
            let cost_ok = cost.len() == 2
                && cost
                    .parse::<u32>()
                    .is_ok_and(|c| (IMPORT_MIN_BCRYPT_COST..=IMPORT_MAX_BCRYPT_COST).contains(&c));
            let rest_ok = rest.len() == 53
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/');
            if !rest_ok {
                return Err("is not a valid bcrypt hash".into());
            }
            if !cost_ok {
                return Err(format!(
                    "has a bcrypt cost outside {IMPORT_MIN_BCRYPT_COST}..={IMPORT_MAX_BCRYPT_COST}"
                ));
            }
            Ok(())
        }
        None => Err(
            "must be an argon2 ($argon2id$, $argon2i$, $argon2d$) or bcrypt \
                     ($2a$, $2b$, $2y$) hash"
                .into(),
        ),
    }
}

/// Whether a stored hash that just verified should be replaced by an argon2id hash with the
/// current parameters: bcrypt, argon2i/argon2d, an older version, or weaker parameters
/// (stronger ones are kept: an upgrade never lowers the cost).
pub fn needs_rehash(hash: &str) -> bool {
    if scheme(hash) != Some(Scheme::Argon2) {
        return true;
    }
    let Ok(parsed) = PasswordHash::new(hash) else {
        return true;
    };
    let param = |name: &str| parsed.params.get_decimal(name).unwrap_or(0);
    parsed.algorithm.as_str() != "argon2id"
        || parsed.version != Some(Version::V0x13 as u32)
        || param("m") < MEMORY_KIB
        || param("t") < ITERATIONS
        || param("p") < LANES
}

impl PasswordHasher {
    /// `concurrency` = hashing threads, i.e. hashes at once (0 = available cores).
    pub fn new(concurrency: usize) -> Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let max_threads = if concurrency == 0 { cores } else { concurrency };
        let (jobs, queue) = flume::bounded::<Job>(QUEUE);
        Ok(Self {
            jobs,
            pool: Arc::new(Pool {
                queue,
                max_threads,
                threads: Mutex::new(Threads::default()),
            }),
        })
    }

    /// Starts a hashing thread when more jobs wait than threads do, up to the limit.
    fn ensure_thread(&self) -> Result<()> {
        let mut threads = self.pool.threads();
        if self.jobs.len() <= threads.idle || threads.live >= self.pool.max_threads {
            return Ok(());
        }
        let pool = self.pool.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("argon2-{}", threads.live))
            .spawn(move || pool.work());
        match spawned {
            Ok(_) => {
                threads.live += 1;
                Ok(())
            }
            // With other threads alive they take the job; with none, nobody would.
            Err(_) if threads.live > 0 => Ok(()),
            Err(e) => Err(Error::Internal(format!(
                "cannot start a hashing thread: {e}"
            ))),
        }
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(f());
        });
        self.jobs
            .send_async(job)
            .await
            .map_err(|_| Error::Internal("password hasher stopped".into()))?;
        self.ensure_thread()?;
        result
            .await
            .map_err(|_| Error::Internal("password hashing thread failed".into()))
    }

    /// Hashes run at once at most; a bulk job hashing this many concurrently keeps every
    /// thread busy without queueing more than it needs.
    pub fn concurrency(&self) -> usize {
        self.pool.max_threads
    }

    pub async fn hash(&self, password: String) -> Result<String> {
        self.run(move || hash_blocking(&password)).await?
    }

    /// Checks `password` against `hash`; with no hash (unknown user) it burns the same time and
    /// returns false.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let ok = self.run(move || verify_blocking(&password, &hash)).await?;
        Ok(ok && known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OWASP's minimum for argon2id is m=19 MiB, t=2, p=1; the stored hash says what was used.
    #[test]
    fn hashes_are_argon2id_with_at_least_the_owasp_parameters() {
        let hash = hash_blocking("correct horse").expect("hash");
        let parsed = PasswordHash::new(&hash).expect("PHC string");
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        let param = |name: &str| {
            parsed
                .params
                .get_decimal(name)
                .unwrap_or_else(|| panic!("{name} in {hash}"))
        };
        assert!(param("m") >= 19 * 1024, "{hash}");
        assert!(param("t") >= 2, "{hash}");
        assert!(param("p") >= 1, "{hash}");
        assert!(verify_blocking("correct horse", &hash));
        assert!(!verify_blocking("correct horsf", &hash));
    }

    /// Unknown users must cost what known ones do: the dummy hash uses today's parameters.
    #[test]
    fn dummy_hash_has_the_current_parameters() {
        let parsed = PasswordHash::new(DUMMY_HASH).expect("PHC string");
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        let param = |name: &str| parsed.params.get_decimal(name);
        assert_eq!(param("m"), Some(MEMORY_KIB));
        assert_eq!(param("t"), Some(ITERATIONS));
        assert_eq!(param("p"), Some(LANES));
        assert_eq!(parsed.version, Some(Version::V0x13 as u32));
    }

    /// Imported hashes: bcrypt and older argon2 variants verify, and are marked for upgrade;
    /// the no-password marker and unknown schemes never verify.
    #[test]
    fn imported_hashes_verify_and_ask_for_an_upgrade() {
        let bcrypt = bcrypt::hash("correct horse", 4).expect("bcrypt");
        assert!(verify_blocking("correct horse", &bcrypt));
        assert!(!verify_blocking("correct horsf", &bcrypt));
        // `$2y$` (PHP's name for the same algorithm) verifies too.
        let y = bcrypt.replacen("$2b$", "$2y$", 1);
        assert!(verify_blocking("correct horse", &y));
        assert_eq!(check_stored_hash(&bcrypt), Ok(()));
        assert!(needs_rehash(&bcrypt));

        let salt = SaltString::generate(&mut OsRng);
        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(8 * 1024, 2, 1, None).expect("params"),
        )
        .hash_password(b"correct horse", &salt)
        .expect("argon2i")
        .to_string();
        assert!(verify_blocking("correct horse", &argon2i));
        assert_eq!(check_stored_hash(&argon2i), Ok(()));
        assert!(needs_rehash(&argon2i));

        let current = hash_blocking("correct horse").expect("hash");
        assert!(!needs_rehash(&current));
        assert_eq!(check_stored_hash(&current), Ok(()));

        assert!(!verify_blocking("", NO_PASSWORD));
        assert!(!verify_blocking("!", NO_PASSWORD));
        for bad in [
            "",
            NO_PASSWORD,
            "md5$abc",
            "$argon2id$nonsense",
            "$2b$04$short",
            "$2b$31$abcdefghijklmnopqrstuvabcdefghijklmnopqrstuvwxyz01234",
            "$argon2id$v=19$m=4194304,t=2,p=1$BbxFOzEF3LWH70tTuSnH/g$\
             Ew5pz4uxf8SUXM7yiq6hgwdbNYwj2RW13JAkubgvQqs",
        ] {
            assert!(check_stored_hash(bad).is_err(), "{bad}");
        }
    }

    /// Threads start on demand, finish the work, and end once idle.
    #[tokio::test]
    async fn threads_come_and_go() {
        let hasher = PasswordHasher::new(2).expect("hasher");
        let hashes =
            futures_util::future::join_all((0..4).map(|i| hasher.hash(format!("password {i}"))))
                .await;
        for (i, hash) in hashes.into_iter().enumerate() {
            let hash = hash.expect("hash");
            assert!(
                hasher
                    .verify(format!("password {i}"), Some(hash))
                    .await
                    .expect("verify")
            );
        }
        assert!(!hasher.verify("x".into(), None).await.expect("verify"));
        assert!(hasher.pool.threads().live <= 2);
        tokio::time::sleep(IDLE_EXIT + Duration::from_millis(500)).await;
        assert_eq!(hasher.pool.threads().live, 0);
        // And a new one starts for the next job.
        assert!(hasher.hash("again".into()).await.is_ok());
    }
}
