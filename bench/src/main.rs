//! `kumo-bench`: see `bench/README.md`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use kumo_bench::client::encode_table;
use kumo_bench::replay::ReplayTables;
use kumo_bench::run::{RunOptions, RunResult, median, run_once};
use kumo_bench::scenario::{Scenario, ScenarioSpec};
use kumo_bench::server::{RsKind, ServerOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Net {
    Loopback,
    Ix,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Rs {
    Kumo,
    /// kumo with no policy at all (empty chains): beside `kumo`, the policies' cost.
    KumoNoPolicy,
    Bird,
    /// OpenBGPD (`bgpd`; needs root and `--net ix`, like BIRD).
    Openbgpd,
    /// GoBGP (`gobgpd`; `--net ix`: it takes next hops in 127/8 for invalid).
    Gobgp,
    /// The floor: no routing, the expected bytes prepared once (`replay.rs`).
    Replay,
}

/// Convergence benchmark: N clients × M prefixes through a route server.
#[derive(Debug, Parser)]
#[command(name = "kumo-bench")]
struct Args {
    /// Route servers to measure; with several, runs alternate between them.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "kumo")]
    rs: Vec<Rs>,
    /// Scenario label written to the results.
    #[arg(long, default_value = "custom")]
    name: String,
    #[arg(long, default_value_t = 50)]
    clients: usize,
    /// Prefixes announced by each client.
    #[arg(long, default_value_t = 10_000)]
    prefixes: usize,
    /// Percentage of each client's prefixes that are IPv6.
    #[arg(long, default_value_t = 20)]
    v6_percent: u8,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Runs per route server.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// CPUs the route server is pinned to (`taskset -c`); "" for none.
    #[arg(long, default_value = "1")]
    cpus: String,
    /// Client addresses: `loopback` (127.1.x.y, RS on 127.0.0.1; no setup) or
    /// `ix` (198.18.x.y, RS on 198.18.0.1; run `bench/net.sh up` first). BIRD
    /// needs `ix`: it refuses neighbors in host-scope 127/8.
    #[arg(long, value_enum, default_value = "loopback")]
    net: Net,
    #[arg(long, default_value_t = 11179)]
    port: u16,
    #[arg(long, default_value_t = 11180)]
    admin_port: u16,
    /// Hold time offered by both sides, seconds.
    #[arg(long, default_value_t = 90)]
    hold_time: u16,
    /// kumo: rs-standard's per-call deadline in ms (default: the engine's, 5 ms).
    #[arg(long)]
    policy_deadline_ms: Option<u64>,
    #[arg(long, default_value = "target/release/kumo")]
    kumo_bin: PathBuf,
    #[arg(long, default_value = "bird")]
    bird_bin: PathBuf,
    #[arg(long, default_value = "bgpd")]
    openbgpd_bin: PathBuf,
    #[arg(long, default_value = "gobgpd")]
    gobgp_bin: PathBuf,
    /// Give up on a run after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Seconds to keep sessions up after convergence before reading settled RSS.
    #[arg(long, default_value_t = 3)]
    settle: u64,
    /// Sessions opened concurrently during setup.
    #[arg(long, default_value_t = 32)]
    connect_parallel: usize,
    /// Working directory for configs and logs.
    #[arg(long, default_value = "/tmp/kumo-bench")]
    dir: PathBuf,
    /// Percentage of attribute sets tagged `0:peer_as` for one other client.
    #[arg(long, default_value_t = 0)]
    action_percent: u8,
    /// Each client also announces 13 routes that each fail one import check
    /// (bogon, prefix length, AS_PATH, NEXT_HOP...): a server that passes any
    /// on fails the run (unknown prefix). Checks that the servers' filters
    /// are equivalent.
    #[arg(long)]
    invalid: bool,
    /// P3: start with an export policy that passes everything, then after
    /// convergence change it to rs-standard (kumo: admin API upload of
    /// `--swap-wasm` over the `gate` module; BIRD: `birdc configure`;
    /// OpenBGPD: `bgpctl reload`; not GoBGP, which sends no withdrawal then).
    #[arg(long)]
    swap: bool,
    /// The module uploaded by `--swap` (rs-standard as built for wasm32-wasip2).
    #[arg(
        long,
        default_value = "target/wasm/wasm32-wasip2/release/kumo_policy_rs_standard.wasm"
    )]
    swap_wasm: PathBuf,
    /// Write all results here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Each client socket's receive buffer in bytes (`SO_RCVBUF`, which turns
    /// the kernel's autotuning off); 0: autotuning. Bounds the kernel memory
    /// a server that writes faster than the clients read can fill.
    #[arg(long, default_value_t = 0)]
    client_rcvbuf: u32,
    /// Internal: be the `replay` route server for this scenario (started by
    /// `--rs replay` itself, pinned like the other servers).
    #[arg(long, hide = true)]
    serve_replay: bool,
}

#[derive(Debug, serde::Serialize)]
struct Summary {
    rs: RsKind,
    runs: usize,
    correct_runs: usize,
    convergence_s: Option<f64>,
    cpu_s: Option<f64>,
    rss_peak_mib: Option<f64>,
    rss_settled_mib: Option<f64>,
    bytes_per_path_in: Option<f64>,
    bytes_per_path_out: Option<f64>,
    swap_s: Option<f64>,
    swap_cpu_s: Option<f64>,
}

#[derive(Debug, serde::Serialize)]
struct Report<'a> {
    scenario: &'a str,
    clients: usize,
    prefixes_per_client: usize,
    v6_percent: u8,
    seed: u64,
    cpus: &'a str,
    hold_time: u16,
    policy_deadline_ms: Option<u64>,
    action_percent: u8,
    invalid: bool,
    swap: bool,
    client_rcvbuf: u32,
    runs: &'a [RunResult],
    medians: Vec<Summary>,
}

const MIB: f64 = 1024.0 * 1024.0;

fn summarise(kind: RsKind, results: &[RunResult]) -> Summary {
    let mine: Vec<&RunResult> = results.iter().filter(|r| r.rs == kind).collect();
    let good: Vec<&&RunResult> = mine.iter().filter(|r| r.correct()).collect();
    let med = |f: &dyn Fn(&RunResult) -> f64| median(&good.iter().map(|r| f(r)).collect::<Vec<_>>());
    Summary {
        rs: kind,
        runs: mine.len(),
        correct_runs: good.len(),
        convergence_s: med(&|r| r.convergence_s.unwrap_or(f64::NAN)),
        cpu_s: med(&|r| r.cpu_s),
        rss_peak_mib: med(&|r| r.rss_peak as f64 / MIB),
        rss_settled_mib: med(&|r| r.rss_settled as f64 / MIB),
        bytes_per_path_in: med(&|r| r.bytes_per_path_in),
        bytes_per_path_out: med(&|r| r.bytes_per_path_out),
        swap_s: med(&|r| r.swap_s.unwrap_or(f64::NAN)),
        swap_cpu_s: med(&|r| r.swap_cpu_s.unwrap_or(f64::NAN)),
    }
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let spec = ScenarioSpec {
        clients: args.clients,
        prefixes: args.prefixes,
        v6_percent: args.v6_percent,
        seed: args.seed,
        action_percent: args.action_percent,
        invalid: args.invalid,
        v4_base: match args.net {
            Net::Loopback => [127, 1],
            Net::Ix => [198, 18],
        },
    };
    let rs_addr = match args.net {
        Net::Loopback => std::net::Ipv4Addr::new(127, 0, 0, 1),
        Net::Ix => std::net::Ipv4Addr::new(198, 18, 0, 1),
    };
    let scenario = Arc::new(Scenario::generate(spec)?);
    let tables: Vec<Vec<u8>> = (0..scenario.clients.len())
        .map(|i| encode_table(&scenario, i))
        .collect::<Result<_, _>>()?;
    let sets: usize = scenario.groups.iter().map(Vec::len).sum();
    eprintln!(
        "scenario {}: {} clients × {} prefixes ({}% IPv6, seed {}), {} attribute sets, {} bytes of UPDATEs",
        args.name,
        args.clients,
        args.prefixes,
        args.v6_percent,
        args.seed,
        sets,
        tables.iter().map(Vec::len).sum::<usize>()
    );
    if args.serve_replay {
        let listen = std::net::SocketAddr::from((rs_addr, args.port));
        let replay = ReplayTables::new(&tables);
        drop(tables);
        kumo_bench::replay::serve(&scenario, replay, listen, args.hold_time)
            .await
            .context("replay server")?;
        return Ok(ExitCode::SUCCESS);
    }
    let tables = Arc::new(tables);
    let kinds: Vec<RsKind> = args
        .rs
        .iter()
        .map(|r| match r {
            Rs::Kumo => RsKind::Kumo,
            Rs::KumoNoPolicy => RsKind::KumoNoPolicy,
            Rs::Bird => RsKind::Bird,
            Rs::Openbgpd => RsKind::Openbgpd,
            Rs::Gobgp => RsKind::Gobgp,
            Rs::Replay => RsKind::Replay,
        })
        .collect();
    for kind in [RsKind::Replay, RsKind::KumoNoPolicy] {
        if kinds.contains(&kind) && (args.swap || args.action_percent > 0 || args.invalid) {
            anyhow::bail!(
                "--rs {kind} has no policy: it cannot run with --swap, --action-percent or --invalid"
            );
        }
    }
    if kinds.contains(&RsKind::Gobgp) && args.swap {
        anyhow::bail!(
            "--rs gobgp cannot run with --swap: {}",
            kumo_bench::server::GOBGP_NO_SWAP
        );
    }
    let swap = if args.swap {
        let wasm =
            std::fs::read(&args.swap_wasm).with_context(|| format!("read {}", args.swap_wasm.display()))?;
        Some(Arc::new(wasm))
    } else {
        None
    };
    let kumo_bin = std::fs::canonicalize(&args.kumo_bin).unwrap_or(args.kumo_bin.clone());
    let mut results = Vec::new();
    let mut failures = 0;
    for run in 0..args.runs {
        // Alternate the order so neither server always runs first.
        let mut order = kinds.clone();
        if run % 2 == 1 {
            order.reverse();
        }
        for &kind in &order {
            let o = RunOptions {
                server: ServerOptions {
                    kind,
                    addr: rs_addr,
                    port: args.port,
                    admin_port: args.admin_port,
                    hold_time: args.hold_time,
                    policy_deadline_ms: args.policy_deadline_ms,
                    export_gate: args.swap,
                    cpus: args.cpus.clone(),
                    kumo_bin: kumo_bin.clone(),
                    bird_bin: args.bird_bin.clone(),
                    openbgpd_bin: args.openbgpd_bin.clone(),
                    gobgp_bin: args.gobgp_bin.clone(),
                    dir: args.dir.join(format!("{kind}-{run}")),
                },
                timeout: Duration::from_secs(args.timeout),
                settle: Duration::from_secs(args.settle),
                connect_parallel: args.connect_parallel,
                swap: swap.clone(),
                client_rcvbuf: args.client_rcvbuf,
            };
            let r = run_once(scenario.clone(), tables.clone(), &o, run)
                .await
                .with_context(|| format!("{kind} run {run}"))?;
            eprintln!(
                "{kind} run {run}: setup {:.1} s, converged {} in {} s, cpu {:.2} s, rss idle {:.1} MiB peak {:.1} MiB settled {:.1} MiB, {:.0} B/path in, {:.1} B/path out, min held {}/{}, resets {}, hold expiries {}, wrong NH {}, unknown {}, reflected {}, updates {}",
                r.setup_s,
                r.converged,
                fmt(r.convergence_s, 3),
                r.cpu_s,
                r.rss_idle as f64 / MIB,
                r.rss_peak as f64 / MIB,
                r.rss_settled as f64 / MIB,
                r.bytes_per_path_in,
                r.bytes_per_path_out,
                r.min_held,
                r.expected_per_client,
                r.session_resets,
                r.hold_timer_expiries,
                r.wrong_next_hop,
                r.unknown_prefixes,
                r.reflected,
                r.updates_received,
            );
            if let Some(c) = r.swap_converged {
                eprintln!(
                    "{kind} run {run}: export policy change: all clients updated {c} in {} s (command {} s), cpu {} s, resets {}; answer: {}",
                    fmt(r.swap_s, 3),
                    fmt(r.swap_command_s, 3),
                    fmt(r.swap_cpu_s, 2),
                    r.swap_resets.unwrap_or(0),
                    r.swap_answer.as_deref().unwrap_or("").trim(),
                );
            }
            if !r.correct() {
                failures += 1;
            }
            results.push(r);
        }
    }
    let medians: Vec<Summary> = kinds.iter().map(|&k| summarise(k, &results)).collect();
    println!(
        "| rs | runs ok | convergence s | cpu s | peak RSS MiB | settled RSS MiB | B/path in | B/path out |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for s in &medians {
        println!(
            "| {} | {}/{} | {} | {} | {} | {} | {} | {} |",
            s.rs,
            s.correct_runs,
            s.runs,
            fmt(s.convergence_s, 3),
            fmt(s.cpu_s, 2),
            fmt(s.rss_peak_mib, 1),
            fmt(s.rss_settled_mib, 1),
            fmt(s.bytes_per_path_in, 0),
            fmt(s.bytes_per_path_out, 1),
        );
    }
    if args.swap {
        for s in &medians {
            println!(
                "{}: export policy change to all clients {} s, cpu {} s (medians of correct runs)",
                s.rs,
                fmt(s.swap_s, 3),
                fmt(s.swap_cpu_s, 2)
            );
        }
    }
    if let Some(k) = medians.iter().find(|s| s.rs == RsKind::Kumo) {
        let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b);
        for other in medians.iter().filter(|s| s.rs != RsKind::Kumo) {
            // The replay keeps no routes: only its time compares.
            let only_time = other.rs == RsKind::Replay;
            let mem = |a: Option<f64>, b: Option<f64>| if only_time { None } else { ratio(a, b) };
            println!(
                "| kumo/{} | | {} | {} | {} | {} | {} | {} |",
                other.rs,
                fmt(ratio(k.convergence_s, other.convergence_s), 2),
                fmt(mem(k.cpu_s, other.cpu_s), 2),
                fmt(mem(k.rss_peak_mib, other.rss_peak_mib), 2),
                fmt(mem(k.rss_settled_mib, other.rss_settled_mib), 2),
                fmt(mem(k.bytes_per_path_in, other.bytes_per_path_in), 2),
                fmt(mem(k.bytes_per_path_out, other.bytes_per_path_out), 2),
            );
        }
    }
    if let Some(path) = &args.json {
        let report = Report {
            scenario: &args.name,
            clients: args.clients,
            prefixes_per_client: args.prefixes,
            v6_percent: args.v6_percent,
            seed: args.seed,
            cpus: &args.cpus,
            hold_time: args.hold_time,
            policy_deadline_ms: args.policy_deadline_ms,
            action_percent: args.action_percent,
            invalid: args.invalid,
            swap: args.swap,
            client_rcvbuf: args.client_rcvbuf,
            runs: &results,
            medians,
        };
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("write {}", path.display()))?;
    }
    if failures > 0 {
        eprintln!("{failures} run(s) did not end correct (see above)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
