//! Files (docs/API.md §5): uploads streamed to the store (`upload`), downloads with ranges and exact
//! counting (`download`, `slots`), ZIP bundles of several files streamed on the fly (`archive`), share links and metadata (`service`), live transfer progress
//! (`transfer`), names and content types (`naming`), URL imports as background tasks (`import`,
//! their registry in `tasks`, the address policy in `ssrf`), and the HTTP surface (`api`, `tasks_api`).

pub mod api;
pub mod archive;
pub mod download;
pub mod dto;
pub mod import;
pub mod limits;
pub mod naming;
pub mod service;
pub mod slots;
pub mod ssrf;
pub mod tasks;
pub mod tasks_api;
pub mod transfer;
pub mod upload;
