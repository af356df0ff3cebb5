#![deny(unsafe_code)]

use switchboard::{
    app, cli,
    config::{Cli, Command},
    telemetry,
};

/// mimalloc: markedly less time in the allocator than glibc malloc under many small
/// per-request allocations (see docs/BENCHMARKS.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` of mimalloc.h (v3: after `eager_commit_delay` = 14, before
/// `use_numa_nodes` = 16, which libmimalloc-sys names); libmimalloc-sys has no constant for it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back to the OS at once instead of after mimalloc's 1 s purge delay: memory
/// reused within the delay stayed resident, so an idle server kept 8–12 MiB of old allocations
/// (docs/BENCHMARKS.md, "Memory at rest": idle 40 → 27 MiB; REST figures unchanged within
/// noise). `MIMALLOC_PURGE_DELAY` in the environment still takes precedence.
#[allow(unsafe_code)]
fn purge_freed_memory_at_once() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mi_option_set stores one option value and is documented as callable at any
        // time; it runs here before any other thread exists.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
}

/// How often an idle runtime thread may hand its freed memory back (see `collect_when_idle`).
const IDLE_COLLECT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Called when a runtime thread runs out of work. mimalloc returns a thread's freed pages to the
/// OS when that thread next collects, which an idle thread never does: after a burst of uploads
/// their buffers stayed resident (~6 MiB). At most once a second per thread, so a busy server,
/// whose threads park between requests, pays for it rarely.
#[allow(unsafe_code)]
fn collect_when_idle() {
    thread_local! {
        static LAST: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
    }
    let due = LAST.with(|last| {
        let due = last.get().is_none_or(|t| t.elapsed() >= IDLE_COLLECT_EVERY);
        if due {
            last.set(Some(std::time::Instant::now()));
        }
        due
    });
    if due {
        // SAFETY: mi_collect(false) frees this thread's unused pages; callable at any time.
        unsafe { libmimalloc_sys::mi_collect(false) };
    }
}

fn main() -> std::process::ExitCode {
    purge_freed_memory_at_once();
    // No transparent huge pages for this process. mimalloc asks for them on its arenas, and the
    // kernel then backs every touched 2 MiB of the heap with a whole, mostly zeroed, huge page:
    // measured, 18 of the 33 MiB anonymous memory of an idle server. The flag covers the whole
    // process and every later fault, so setting it before the runtime starts is early enough.
    // Best effort: kernels without it simply keep huge pages.
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(collect_when_idle)
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
        Some(Command::Backup(cmd)) => cli::backup(&args.global, cmd).await,
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
