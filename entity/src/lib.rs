//! sea-orm entities: the database rows, nothing else.

pub mod api_key;
pub mod download_slot;
pub mod event;
pub mod file;
pub mod invitation;
pub mod password_reset;
pub mod recovery_code;
pub mod session;
pub mod share_link;
pub mod task;
pub mod totp_factor;
pub mod upload;
pub mod upload_part;
pub mod user;
