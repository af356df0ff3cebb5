//! Files (SPEC §5): uploads streamed to the store (`upload`), downloads with ranges and exact
//! counting (`download`, `slots`), share links and metadata (`service`), live transfer progress
//! (`transfer`), names and content types (`naming`), and the HTTP surface (`api`).

pub mod api;
pub mod download;
pub mod dto;
pub mod naming;
pub mod service;
pub mod slots;
pub mod transfer;
pub mod upload;
