//! Authentication: login (with an optional TOTP second step), refresh-token rotation, logout,
//! password change and reset, API keys, and the bearer guard that resolves every request's
//! token to a [`sessions::Principal`].

pub mod api;
pub mod cache;
pub mod guard;
pub mod jwt;
pub mod keys;
pub mod keys_api;
pub mod link_token;
pub mod mfa;
pub mod mfa_api;
pub mod password;
pub mod reset;
pub mod service;
pub mod sessions;
pub mod sessions_api;
pub mod throttle;
