//! Backups and restore (docs/API.md §8): `snapshot` (the database at one point in time),
//! `create` (one backup: snapshot, objects, manifest last), `manifest`, `service` (runs, the
//! listing, deletion and retention, the schedule, events and metrics), `archive` (the tar
//! download), `restore` (the CLI restore), `api`, `dto`.

pub mod api;
pub mod archive;
pub mod create;
pub mod dto;
pub mod manifest;
pub mod restore;
pub mod service;
pub mod snapshot;
