//! Structured logging: human text or one JSON object per line (`--log-format json`).

use tracing_subscriber::{EnvFilter, fmt};

use crate::config::LogFormat;

/// `RUST_LOG` overrides the default filter.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,poem=warn"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stdout);
    // A second init (tests, repeated CLI calls in one process) is harmless: keep the first.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
