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

fn main() -> std::process::ExitCode {
    // No transparent huge pages for this process. mimalloc asks for them on its arenas, and the
    // kernel then backs every touched 2 MiB of the heap with a whole, mostly zeroed, huge page:
    // measured, 18 of the 33 MiB anonymous memory of an idle server. The flag covers the whole
    // process and every later fault, so setting it before the runtime starts is early enough.
    // Best effort: kernels without it simply keep huge pages.
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("switchboard: cannot start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> std::process::ExitCode {
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
