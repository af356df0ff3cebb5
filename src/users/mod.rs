//! Users: the REST API (`api`), its request/response shapes (`dto`), the streamed export
//! (`export`), the bulk import (`import`), what callers hand the service (`model`), input rules
//! (`validate`) and the only code that writes the `users` table (`service`).

pub mod api;
pub mod dto;
pub mod export;
pub mod import;
pub mod model;
pub mod service;
pub mod validate;

use std::{fmt, str::FromStr};

/// What a user may do: `admin` everything, `viewer` read and download only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "admin" => Ok(Self::Admin),
            "viewer" => Ok(Self::Viewer),
            _ => Err(()),
        }
    }
}
