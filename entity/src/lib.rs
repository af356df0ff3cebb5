//! sea-orm entities: the database rows, nothing else.

pub mod session;
pub mod user;
