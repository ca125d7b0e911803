//! The `kumo` command line. The daemon itself lives in the library (`lib.rs`).

use kumo::daemon;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// jemalloc instead of glibc's malloc: a route server keeps millions of small
/// blocks (attribute sets, their lists) allocated on several threads, and
/// glibc's per-thread arenas and 16-octet chunk rounding cost ~10 % of P1's
/// memory (50 clients x 10,000 prefixes: peak RSS 115 MiB vs 128 MiB, 165 vs
/// 195 bytes per path; BENCHMARKS.md, session 7).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    /// Run the route server. SIGTERM: see `server.on_sigterm` (default: an
    /// upgrade restart that keeps Graceful Restart clients' routes); Ctrl-C:
    /// Cease to everyone; SIGHUP: reload the configuration.
    Run {
        /// Configuration file (TOML).
        #[arg(short, long)]
        config: PathBuf,
        /// kumo is coming back from an upgrade restart: tell clients (the
        /// Graceful Restart R bit) and send routes only once their End-of-RIB
        /// markers are in, or after `server.restart_time` (like `bird -R`).
        #[arg(short = 'R', long)]
        graceful_restart: bool,
    },
    /// A self-contained demo Internet Exchange: kumo plus three simulated members.
    Demo {
        /// BGP port of the demo route server on 127.0.0.1.
        #[arg(long, default_value_t = 11179)]
        port: u16,
    },
    /// Check a configuration file without opening any socket: every key, and
    /// every policy module compiled, validated and self-tested.
    Check {
        /// Configuration file (TOML).
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Compile a policy component read on standard input into machine code
    /// on standard output: the child process in which `run` and `check`
    /// compile modules (`kumo_policy::Compiler::Subprocess`).
    #[command(hide = true)]
    CompilePolicy,
    /// Work with policy modules.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Run a module over routes from a JSON file and print each verdict, its
    /// modifications and reasons (format: `kumo::policy_test` docs, or
    /// docs/policies.md). Exits non-zero when a call traps or times out.
    Test {
        /// A .wasm component, a `[policies.NAME]` of --config, or a built-in name.
        module: String,
        /// JSON array of routes.
        #[arg(long)]
        routes: PathBuf,
        /// The client the routes come from (a client of --config).
        #[arg(long)]
        client: Option<String>,
        /// kumo configuration: clients (export targets, parameters) and policies.
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo prints its own story; only problems are logged there by
    // default. The policy compiler logs nothing: its standard error is the
    // parent's error message.
    let default_level = match cli.command {
        Command::Demo { .. } => Some("warn"),
        Command::CompilePolicy => None,
        _ => Some("info"),
    };
    if let Some(default_level) = default_level {
        tracing_subscriber::fmt()
            .with_env_filter(
                EnvFilter::try_from_env("KUMO_LOG").unwrap_or_else(|_| EnvFilter::new(default_level)),
            )
            .with_writer(std::io::stderr)
            .init();
    }
    let result = match cli.command {
        Command::Run {
            config,
            graceful_restart,
        } => run(config, graceful_restart),
        Command::Check { config } => check(config),
        Command::CompilePolicy => return compile_policy(),
        Command::Demo { port } => demo(port),
        Command::Policy {
            command:
                PolicyCommand::Test {
                    module,
                    routes,
                    client,
                    config,
                },
        } => {
            let request = kumo::policy_test::Request {
                module,
                routes,
                client,
                config,
            };
            match kumo::policy_test::run(&request, &mut std::io::stdout()) {
                Ok(true) => Ok(()),
                Ok(false) => {
                    eprintln!("kumo: a policy call failed (see the verdicts above)");
                    return ExitCode::from(2);
                }
                Err(e) => Err(e),
            }
        }
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

/// This executable as the child process that compiles policy modules.
#[allow(unsafe_code)]
fn own_compiler() -> kumo_policy::Compiler {
    // /proc/self/exe is the running executable even after an upgrade
    // replaced the file on disk; `current_exe` names the file.
    let program = Some(PathBuf::from("/proc/self/exe"))
        .filter(|p| p.exists())
        .or_else(|| std::env::current_exe().ok());
    match program {
        // SAFETY: the program is this executable, whose `compile-policy`
        // (below) writes nothing but `kumo_policy::precompile`'s output.
        Some(program) => unsafe { kumo_policy::Compiler::subprocess(program, vec!["compile-policy".into()]) },
        None => kumo_policy::Compiler::InProcess,
    }
}

/// `kumo compile-policy`. A module that does not compile exits with
/// `kumo_policy::MODULE_REFUSED` and the message alone on standard error
/// (the parent shows it under the module's name); any other failure exits 2.
fn compile_policy() -> ExitCode {
    use std::io::{Read, Write};
    let mut wasm = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut wasm) {
        eprintln!("reading the module: {e}");
        return ExitCode::from(2);
    }
    let code = match kumo_policy::precompile(&wasm) {
        Ok(code) => code,
        Err(e) => {
            match e {
                kumo_policy::PolicyError::Engine(message) => eprintln!("{message}"),
                other => eprintln!("{other}"),
            }
            return ExitCode::from(kumo_policy::MODULE_REFUSED as u8);
        }
    };
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(&code).and_then(|()| stdout.flush()) {
        eprintln!("writing the machine code: {e}");
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}

fn check(path: PathBuf) -> anyhow::Result<()> {
    let config = kumo_config::load(&path)?;
    // IRR files are read as at start-up; the RTR cache is not contacted.
    let route_data = kumo::route_data::RouteDataService::new();
    let irr = kumo::route_data::load_irr(&config).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    route_data.set_irr(irr);
    let policies = kumo::policies::load(&config, route_data, own_compiler()).map_err(|e| {
        let lines: Vec<String> = e
            .problems
            .iter()
            .map(|(key, message)| format!("{}: {key}: {message}", path.display()))
            .collect();
        anyhow::anyhow!("{}", lines.join("\n"))
    })?;
    let modules = policies.registry.snapshot();
    let names: Vec<&str> = modules.iter().map(|m| m.name()).collect();
    println!(
        "{}: ok ({} clients; policy modules: {})",
        path.display(),
        config.clients.len(),
        names.join(", ")
    );
    Ok(())
}

fn run(path: PathBuf, graceful_restart: bool) -> anyhow::Result<()> {
    let config = kumo_config::load(&path)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let options = daemon::StartOptions {
            config_path: Some(path),
            graceful_restart,
            compiler: own_compiler(),
        };
        let daemon = std::sync::Arc::new(daemon::Daemon::start_with(config, options).await?);
        kumo::admin::spawn(daemon.clone()).await?;
        if daemon.config().server.watch_config {
            daemon.watch_config(std::time::Duration::from_secs(2));
        }
        let exit = wait_for_termination(&daemon).await?;
        let upgrade = exit == Exit::Terminate
            && daemon.config().server.on_sigterm == kumo_config::SigtermAction::Restart
            && daemon.config().server.graceful_restart;
        if upgrade {
            tracing::info!(
                "SIGTERM: restarting (sessions closed without NOTIFICATION; Graceful Restart clients keep kumo's routes; start again with --graceful-restart)"
            );
            daemon.restart_exit().await;
        } else {
            tracing::info!("shutting down: Cease / Administrative Shutdown to every client");
            daemon.shutdown("kumo route server shutting down").await;
        }
        Ok(())
    })
}

/// How kumo was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    /// SIGTERM (a service manager or Kubernetes).
    Terminate,
    /// Ctrl-C (an operator at a terminal).
    Interrupt,
}

/// Until SIGTERM or Ctrl-C; SIGHUP reloads the configuration file meanwhile.
async fn wait_for_termination(daemon: &daemon::Daemon) -> anyhow::Result<Exit> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(Exit::Terminate),
            r = tokio::signal::ctrl_c() => { r?; return Ok(Exit::Interrupt) }
            _ = hup.recv() => match daemon.reload().await {
                Ok(report) => tracing::info!(?report, "SIGHUP: configuration reloaded"),
                Err(e) => tracing::error!(error = %e, "SIGHUP: configuration not reloaded, nothing changed"),
            },
        }
    }
}
