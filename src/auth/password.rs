//! argon2id hashing on a small pool of dedicated, lower-priority threads, so a burst of logins
//! can neither block the async runtime nor take the cores away from other requests.

use std::sync::Arc;

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

type Job = Box<dyn FnOnce() + Send>;

#[derive(Clone)]
pub struct PasswordHasher {
    jobs: flume::Sender<Job>,
    /// Verified against when the user does not exist, so unknown users cost the same time.
    dummy_hash: Arc<String>,
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

fn verify_blocking(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

impl PasswordHasher {
    /// `concurrency` = hashing threads, i.e. hashes at once (0 = available cores).
    pub fn new(concurrency: usize) -> Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = if concurrency == 0 { cores } else { concurrency };
        let (jobs, queue) = flume::bounded::<Job>(QUEUE);
        for i in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    // Best effort: without permission to renice, hashing still works.
                    let tid = rustix::thread::gettid();
                    let _ = rustix::process::setpriority_process(Some(tid), HASH_THREAD_NICE);
                    // Ends when every sender (every hasher clone) is gone.
                    while let Ok(job) = queue.recv() {
                        job();
                    }
                })?;
        }
        let dummy_hash = hash_blocking(&uuid::Uuid::new_v4().to_string())?;
        Ok(Self {
            jobs,
            dummy_hash: Arc::new(dummy_hash),
        })
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
        result
            .await
            .map_err(|_| Error::Internal("password hashing thread failed".into()))
    }

    pub async fn hash(&self, password: String) -> Result<String> {
        self.run(move || hash_blocking(&password)).await?
    }

    /// Checks `password` against `hash`; with no hash (unknown user) it burns the same time and
    /// returns false.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.as_ref().clone());
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
}
