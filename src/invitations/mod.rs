//! Invitations by e-mail (or a link the admin copies): `service` (the only code writing
//! `invitations`), `api` (`/api/invitations*`).

pub mod api;
pub mod service;
