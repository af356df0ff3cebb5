//! sea-orm entities: the database rows, nothing else.

pub mod event;
pub mod session;
pub mod user;
