//! Switchboard: a single-binary admin backend with a live admin panel.
//!
//! `main.rs` parses the command line and calls [`app::serve`] or a [`cli`] command; that is the
//! whole public surface. Everything else is crate-private, so the compiler sees every unused
//! item. See `docs/ARCHITECTURE.md` for the map.
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod config;
pub mod telemetry;

mod auth;
mod backup;
mod bootstrap;
mod conditional;
mod data_lock;
mod db;
mod error;
mod files;
mod health;
mod invitations;
mod links;
mod listener;
mod mail;
mod metrics;
mod middleware;
mod openapi;
mod origin;
mod pagination;
mod panel;
mod raw_json;
mod realtime;
mod s3;
mod secret;
mod state;
mod stats;
mod storage;
mod strict;
mod tags;
mod uploads;
mod users;
mod write;
