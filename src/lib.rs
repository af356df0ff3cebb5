//! Switchboard: a single-binary admin backend with a live admin panel.
//!
//! `main.rs` parses the command line and calls [`app::serve`] or a [`cli`] command; everything
//! else lives here so integration tests and benchmarks use the same code. See
//! `docs/ARCHITECTURE.md` for the map.
#![forbid(unsafe_code)]

pub mod app;
pub mod auth;
pub mod bootstrap;
pub mod cli;
pub mod conditional;
pub mod config;
pub mod db;
pub mod error;
pub mod files;
pub mod health;
pub mod listener;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod origin;
pub mod pagination;
pub mod panel;
pub mod realtime;
pub mod secret;
pub mod storage;
pub mod strict;
pub mod telemetry;
pub mod users;
