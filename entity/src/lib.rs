//! sea-orm entities: the database rows, nothing else.

pub mod download_slot;
pub mod event;
pub mod file;
pub mod session;
pub mod share_link;
pub mod task;
pub mod upload;
pub mod upload_part;
pub mod user;
