//! Test harness: runs the real `switchboard` binary as a child process against its own
//! temporary data directory (SQLite) or its own fresh PostgreSQL database
//! (`SWITCHBOARD_TEST_DB=postgres`), and offers small HTTP and WebSocket helpers and assertions.
//!
//! - `launcher.rs`: the storage environment, the server process and [`TestApp`]'s life cycle;
//! - `http.rs`: [`Resp`], the request helpers and the assertions on responses;
//! - `ws.rs`: [`WsClient`], the event frame helpers and the event log;
//! - `files.rs`: the file store helpers (`use common::files::*;`);
//! - `smtp.rs`: a real SMTP server process (aiosmtpd) whose received mail the test reads;
//! - `store.rs`: the file store as the test sees it (local, or an S3 bucket with
//!   `SWITCHBOARD_TEST_STORAGE=s3`), read through `object_store`.
//!
//! The items of `launcher`, `http` and `ws` are re-exported here: a test says
//! `mod common; use common::*;`.

// Every test binary uses its own subset of the helpers.
#![allow(dead_code)]

pub mod files;
mod http;
mod launcher;
pub mod smtp;
pub mod store;
mod ws;

pub use http::*;
pub use launcher::*;
pub use ws::*;
