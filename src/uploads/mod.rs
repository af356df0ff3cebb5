//! Resumable uploads (tus 1.0.0, docs/API.md §5.8): the protocol's vocabulary (`tus`), the raw
//! chunk body (`body`), the service that stages, commits and assembles parts into a file
//! (`service`), and the HTTP surface (`api`, `dto`).

pub mod api;
pub mod body;
pub mod dto;
pub mod service;
pub mod tus;
