//! The `duet` server binary: read flags, start logging, serve.

use clap::Parser;
use duet::server::config::Config;
use std::io::IsTerminal;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc's malloc: a relayed offer and a new socket allocate a few buffers
/// each, and glibc's allocator was the largest single cost in the server's own code under a
/// connection storm (docs/BENCHMARKS.md: 8 % less CPU per relayed offer, an idle session the
/// same within 0.2 KiB).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_ansi(std::io::stdout().is_terminal())
        .init();
    match duet::server::run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
