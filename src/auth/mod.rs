//! Authentication: login, refresh-token rotation, logout, password change, and the bearer guard
//! that resolves every request's access token to a [`sessions::Principal`].

pub mod api;
pub mod cache;
pub mod guard;
pub mod jwt;
pub mod password;
pub mod service;
pub mod sessions;
pub mod throttle;
