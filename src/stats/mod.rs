//! `GET /api/stats` (docs/API.md §7.1): the dashboard's counts and traffic series.

pub mod api;
pub mod service;
