//! `sluice`: one binary for every role. Each subcommand is a module of
//! [`cli`]; the settings are read once ([`settings`]) and, for the roles
//! that serve, checked into each crate's configuration ([`config`]).

mod cli;
mod config;
mod database;
mod settings;
mod telemetry;

use clap::Parser;
use std::process::ExitCode;

/// jemalloc rather than the system allocator: a worker's runs allocate and
/// free hundreds of megabytes on many threads, and glibc kept what each
/// thread's arena had freed, so a worker's resident memory grew run after
/// run; jemalloc returns freed pages to the system.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The target of the binary's own log lines, from whichever of its modules
/// they come: the one a log filter or collector knows them by.
const LOG_TARGET: &str = "sluice";

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    telemetry::init_tracing(&cli.settings.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sluice: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "sluice stopped");
            ExitCode::FAILURE
        }
    }
}
