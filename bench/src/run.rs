//! One measured run: start the route server, bring up every client, release
//! all announcements at once, wait until every client holds its full table.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::client::{self, Counters, Progress};
use crate::scenario::Scenario;
use crate::server::{RsKind, Server, ServerError, ServerOptions};

/// Errors of a run (the route server or a client failed before measuring).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error(transparent)]
    Client(#[from] client::ClientError),
    #[error("{0} of {1} sessions did not come up within {2} s")]
    Sessions(usize, usize, u64),
}

/// Knobs of a run besides the server.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub server: ServerOptions,
    /// Give up waiting for convergence after this long.
    pub timeout: Duration,
    /// After convergence, keep every session up this long and check nothing
    /// is lost, then read the settled RSS.
    pub settle: Duration,
    /// Sessions opened at once while connecting.
    pub connect_parallel: usize,
    /// P3: after convergence, change the export policy (kumo: upload this
    /// module over `gate`; BIRD: `birdc configure`) and time until every
    /// client holds the resulting table. Needs `server.export_gate`.
    pub swap: Option<Arc<Vec<u8>>>,
    /// Each client socket's receive buffer in bytes (`SO_RCVBUF`); 0: the
    /// kernel's autotuning.
    pub client_rcvbuf: u32,
}

/// What one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub rs: RsKind,
    pub run: usize,
    pub clients: usize,
    pub prefixes_per_client: usize,
    /// Routes every client must hold: (clients − 1) × prefixes.
    pub expected_per_client: usize,
    pub converged: bool,
    /// First announcement sent → last client complete, seconds.
    pub convergence_s: Option<f64>,
    /// Route server CPU seconds (user + system) over the same interval.
    pub cpu_s: f64,
    /// Seconds to bring all sessions up (not part of convergence).
    pub setup_s: f64,
    /// RSS with every session up and no route yet.
    pub rss_idle: u64,
    /// VmHWM at the end (peak RSS over the process's life).
    pub rss_peak: u64,
    /// RSS after convergence and `settle`.
    pub rss_settled: u64,
    /// (settled − idle) / paths received by the route server (clients × prefixes).
    pub bytes_per_path_in: f64,
    /// (settled − idle) / paths the clients hold (clients × expected).
    pub bytes_per_path_out: f64,
    /// Smallest table held by any client at the end.
    pub min_held: usize,
    pub session_resets: u64,
    pub notifications: u64,
    /// Hold timer expiries: NOTIFICATION code 4 from the route server plus
    /// sessions where the client heard nothing for the hold time.
    pub hold_timer_expiries: u64,
    pub wrong_next_hop: u64,
    pub unknown_prefixes: u64,
    pub reflected: u64,
    pub updates_received: u64,
    /// Clients that became incomplete again after converging (flaps).
    pub lost_after_convergence: usize,
    /// P3: export policy change sent → every client holds its new table, seconds.
    pub swap_s: Option<f64>,
    /// P3: how long the change request itself took (HTTP PUT or birdc).
    pub swap_command_s: Option<f64>,
    /// P3: every client reached its new table within the timeout.
    pub swap_converged: Option<bool>,
    /// P3: session resets during the change (must be 0).
    pub swap_resets: Option<u64>,
    /// P3: CPU seconds of the route server from the change to the end.
    pub swap_cpu_s: Option<f64>,
    /// P3: the server's answer (kumo's JSON; BIRD's "Reconfigured").
    pub swap_answer: Option<String>,
}

impl RunResult {
    /// The run is correct: converged, nothing lost, no reset, no expiry, no
    /// wrong or unknown route. Timings are never judged.
    pub fn correct(&self) -> bool {
        // After a P3 change the clients hold fewer routes, checked by `swap_converged`.
        self.converged
            && (self.swap_converged.is_some() || self.min_held == self.expected_per_client)
            && self.session_resets == 0
            && self.hold_timer_expiries == 0
            && self.wrong_next_hop == 0
            && self.unknown_prefixes == 0
            && self.lost_after_convergence == 0
            && self.swap_converged != Some(false)
            && self.swap_resets.unwrap_or(0) == 0
    }
}

/// Run the scenario once against the route server in `o.server`.
pub async fn run_once(
    scenario: Arc<Scenario>,
    tables: Arc<Vec<Vec<u8>>>,
    o: &RunOptions,
    run: usize,
) -> Result<RunResult, RunError> {
    let mut server = tokio::task::block_in_place(|| Server::start(&scenario, &o.server))?;
    let n = scenario.clients.len();

    let counters = Arc::new(Counters::default());
    let (go_tx, go_rx) = watch::channel(false);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (progress_tx, mut progress_rx) = mpsc::unbounded_channel::<Progress>();
    let (phase_tx, phase_rx) = watch::channel(0u8);

    // Bring every session up before any route is sent. Each session gets its
    // reader and keepalive writer as soon as it is established: with hundreds
    // of sessions, the first ones must not wait silently for the last.
    let setup_start = Instant::now();
    let gate = Arc::new(Semaphore::new(o.connect_parallel.max(1)));
    let mut connecting = Vec::with_capacity(n);
    for i in 0..n {
        let scenario = scenario.clone();
        let gate = gate.clone();
        let (bgp, hold, rcvbuf) = (server.bgp, o.server.hold_time, o.client_rcvbuf);
        let table = tables[i].clone();
        let (counters, progress_tx) = (counters.clone(), progress_tx.clone());
        let (go_rx, stop_rx, phase_rx) = (go_rx.clone(), stop_rx.clone(), phase_rx.clone());
        connecting.push(tokio::spawn(async move {
            let established = {
                let _permit = gate.acquire().await;
                let spec = &scenario.clients[i];
                let mut last = None;
                let mut established = None;
                // BIRD and kumo may refuse a session briefly while starting up.
                for _ in 0..20 {
                    match tokio::time::timeout(
                        Duration::from_secs(30),
                        client::connect(spec, bgp, hold, rcvbuf),
                    )
                    .await
                    {
                        Ok(Ok(e)) => {
                            established = Some(e);
                            break;
                        }
                        Ok(Err(e)) => last = Some(e),
                        Err(_) => {}
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                match established {
                    Some(e) => e,
                    None => return Err(last),
                }
            };
            let hold = established.hold_time();
            let (write, read) = established.split();
            tokio::spawn(client::run_writer(write, table, hold, go_rx, stop_rx.clone()));
            Ok(tokio::spawn(client::run_reader(
                read,
                scenario,
                counters,
                progress_tx,
                phase_rx,
                stop_rx,
            )))
        }));
    }
    let mut readers = Vec::with_capacity(n);
    let mut failed = 0;
    let mut first_error = None;
    for c in connecting {
        match c.await {
            Ok(Ok(r)) => readers.push(r),
            Ok(Err(e)) => {
                failed += 1;
                if first_error.is_none() {
                    first_error = e;
                }
            }
            Err(_) => failed += 1,
        }
    }
    if failed > 0 {
        if let Some(e) = first_error {
            eprintln!("first session error: {e}");
        }
        let _ = stop_tx.send(true);
        return Err(RunError::Sessions(failed, n, 30));
    }
    let setup_s = setup_start.elapsed().as_secs_f64();
    drop(progress_tx);

    // Let the End-of-RIBs of the empty tables pass, then measure from here.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss_idle, _) = server.memory()?;
    let cpu0 = server.cpu_seconds()?;
    let t0 = Instant::now();
    let _ = go_tx.send(true);

    let expected = scenario.expected_per_client();
    let mut complete: HashSet<usize> = HashSet::new();
    let mut last_complete = t0;
    // With nothing to receive (one client), every client is complete at once.
    if expected == 0 {
        complete.extend(0..n);
    }
    let deadline = tokio::time::Instant::now() + o.timeout;
    while complete.len() < n {
        match tokio::time::timeout_at(deadline, progress_rx.recv()).await {
            Ok(Some(p)) => {
                if p.complete {
                    complete.insert(p.client);
                    last_complete = last_complete.max(p.at);
                } else {
                    complete.remove(&p.client);
                }
            }
            Ok(None) | Err(_) => break,
        }
        if !server.alive() {
            break;
        }
    }
    let converged = complete.len() == n;
    let convergence_s = converged.then(|| last_complete.duration_since(t0).as_secs_f64());
    let cpu_s = server.cpu_seconds()? - cpu0;

    // Settle: sessions stay up; any client that loses a route is counted.
    let mut lost = HashSet::new();
    let settle_end = tokio::time::Instant::now() + o.settle;
    while let Ok(Some(p)) = tokio::time::timeout_at(settle_end, progress_rx.recv()).await {
        if !p.complete {
            lost.insert(p.client);
        }
    }
    let (rss_settled, rss_peak) = server.memory()?;

    // P3: change the export policy under the converged load.
    let mut swap = SwapOutcome::default();
    if let (Some(wasm), true) = (&o.swap, converged) {
        let resets_before = counters.session_resets.load(Ordering::Relaxed);
        let cpu_before = server.cpu_seconds()?;
        let t_swap = Instant::now();
        let _ = phase_tx.send(1);
        let answer = server.swap_export_policy(&scenario, &o.server, wasm).await?;
        swap.command_s = Some(t_swap.elapsed().as_secs_f64());
        swap.answer = Some(answer.chars().take(400).collect());
        let mut done: HashSet<usize> = HashSet::new();
        let mut last = t_swap;
        let deadline = tokio::time::Instant::now() + o.timeout;
        while done.len() < n {
            match tokio::time::timeout_at(deadline, progress_rx.recv()).await {
                Ok(Some(p)) if p.phase == 1 => {
                    if p.complete {
                        done.insert(p.client);
                        last = last.max(p.at);
                    } else {
                        done.remove(&p.client);
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        swap.converged = Some(done.len() == n);
        swap.s = (done.len() == n).then(|| last.duration_since(t_swap).as_secs_f64());
        // Let late duplicates or resets show before counting.
        tokio::time::sleep(Duration::from_secs(1)).await;
        swap.resets = Some(counters.session_resets.load(Ordering::Relaxed) - resets_before);
        swap.cpu_s = Some(server.cpu_seconds()? - cpu_before);
    }

    let _ = stop_tx.send(true);
    let mut min_held = usize::MAX;
    for r in readers {
        min_held = min_held.min(r.await.unwrap_or(0));
    }
    // Readers watch the phase until they stop: keep its sender until then.
    drop(phase_tx);
    if n == 0 {
        min_held = 0;
    }
    tokio::task::block_in_place(|| server.stop());

    let grown = rss_settled.saturating_sub(rss_idle) as f64;
    let paths_in = (n * scenario.spec.prefixes).max(1) as f64;
    let paths_out = (n * expected).max(1) as f64;
    let c = &counters;
    Ok(RunResult {
        rs: o.server.kind,
        run,
        clients: n,
        prefixes_per_client: scenario.spec.prefixes,
        expected_per_client: expected,
        converged,
        convergence_s,
        cpu_s,
        setup_s,
        rss_idle,
        rss_peak,
        rss_settled,
        bytes_per_path_in: grown / paths_in,
        bytes_per_path_out: grown / paths_out,
        min_held,
        session_resets: c.session_resets.load(Ordering::Relaxed),
        notifications: c.notifications.load(Ordering::Relaxed),
        hold_timer_expiries: c.hold_timer_expired_by_rs.load(Ordering::Relaxed)
            + c.hold_timer_expired_by_client.load(Ordering::Relaxed),
        wrong_next_hop: c.wrong_next_hop.load(Ordering::Relaxed),
        unknown_prefixes: c.unknown_prefixes.load(Ordering::Relaxed),
        reflected: c.reflected.load(Ordering::Relaxed),
        updates_received: c.updates.load(Ordering::Relaxed),
        lost_after_convergence: lost.len(),
        swap_s: swap.s,
        swap_command_s: swap.command_s,
        swap_converged: swap.converged,
        swap_resets: swap.resets,
        swap_cpu_s: swap.cpu_s,
        swap_answer: swap.answer,
    })
}

#[derive(Debug, Default)]
struct SwapOutcome {
    s: Option<f64>,
    command_s: Option<f64>,
    converged: Option<bool>,
    resets: Option<u64>,
    cpu_s: Option<f64>,
    answer: Option<String>,
}

/// Median of `values` (mean of the middle two for an even count); `None` if empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}
