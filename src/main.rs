#![forbid(unsafe_code)]

use switchboard::{
    app, cli,
    config::{Cli, Command},
    telemetry,
};

/// mimalloc: markedly less time in the allocator than glibc malloc under many small
/// per-request allocations (see docs/BENCHMARKS.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Cli::parse_checked();
    telemetry::init(args.global.log_format);
    let result = match args.command {
        None => serve(args.global, args.serve).await,
        Some(Command::Serve(serve_args)) => serve(args.global, serve_args).await,
        Some(Command::Migrate) => cli::migrate(&args.global).await,
        Some(Command::User(cmd)) => cli::user(&args.global, cmd).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "fatal");
            eprintln!("switchboard: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(
    global: switchboard::config::GlobalArgs,
    args: switchboard::config::ServeArgs,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    app::serve(global, args, listener, shutdown_signal()).await
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
