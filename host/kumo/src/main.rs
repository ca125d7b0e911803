//! The `kumo` command line. The daemon itself lives in the library (`lib.rs`).

use kumo::daemon;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "kumo",
    version,
    about = "BGP route server for Internet Exchanges with WebAssembly policies"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the route server.
    Run {
        /// Configuration file (TOML).
        #[arg(short, long)]
        config: PathBuf,
    },
    /// A self-contained demo Internet Exchange: kumo plus three simulated members.
    Demo {
        /// BGP port of the demo route server on 127.0.0.1.
        #[arg(long, default_value_t = 11179)]
        port: u16,
    },
    /// Check a configuration file without opening any socket.
    Check {
        /// Configuration file (TOML).
        #[arg(short, long)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo prints its own story; only problems are logged there by default.
    let default_level = if matches!(cli.command, Command::Demo { .. }) {
        "warn"
    } else {
        "info"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("KUMO_LOG").unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Run { config } => run(config),
        Command::Check { config } => check(config),
        Command::Demo { port } => demo(port),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kumo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn demo(port: u16) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(daemon_demo(port))
}

async fn daemon_demo(port: u16) -> anyhow::Result<()> {
    kumo::demo::run(port).await
}

fn check(path: PathBuf) -> anyhow::Result<()> {
    let config = kumo_config::load(&path)?;
    println!("{}: ok ({} clients)", path.display(), config.clients.len());
    Ok(())
}

fn run(path: PathBuf) -> anyhow::Result<()> {
    let config = kumo_config::load(&path)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let daemon = std::sync::Arc::new(daemon::Daemon::start(config).await?);
        kumo::admin::spawn(daemon.clone()).await?;
        wait_for_termination().await?;
        tracing::info!("shutting down: Cease / Administrative Shutdown to every client");
        daemon.shutdown("kumo route server shutting down").await;
        Ok(())
    })
}

async fn wait_for_termination() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        r = tokio::signal::ctrl_c() => r?,
    }
    Ok(())
}
