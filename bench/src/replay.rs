//! The floor of a measurement: a "route server" that does no routing.
//!
//! On a 2-CPU machine the harness's clients share one CPU and read every
//! UPDATE a server sends them, so a run's time is bounded below by the
//! harness and the kernel, not only by the server. `--rs replay` measures that
//! bound: this process (pinned like the others) completes each session's
//! OPEN exchange, and as soon as any client announces, sends every client the
//! other clients' tables exactly as they encoded them — the bytes a
//! transparent route server without policy changes would send, prepared once,
//! with no decision and no per-client work, in the order they were announced
//! (the order the harness reads fastest). Its time is an estimate of the
//! harness's floor from above: the replay's own pacing is in it (see
//! [`SNDBUF`]: the send buffers alone moved it severalfold), and in the runs
//! measured the harness's CPU was busy throughout.
//!
//! Only for scenarios where every route goes to every other client (no action
//! communities) and no policy change (`--swap`).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use kumo_wire::{AfiSafi, Message, UpdatePacker, encode_message, frame, msg_type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, watch};

use crate::client::{KEEPALIVE, codec_context, open};
use crate::scenario::{RS_ASN, Scenario};

/// Every client's table without its End-of-RIB markers, back to back, and
/// where each client's part lies.
#[derive(Debug)]
pub struct ReplayTables {
    all: Vec<u8>,
    parts: Vec<std::ops::Range<usize>>,
    end_of_rib: Vec<u8>,
}

impl ReplayTables {
    /// `tables` as [`crate::client::encode_table`] makes them (each ends with
    /// End-of-RIB for IPv4 and IPv6).
    pub fn new(tables: &[Vec<u8>]) -> ReplayTables {
        let ctx = codec_context();
        let packer = UpdatePacker::new(&ctx);
        let mut end_of_rib = Vec::new();
        packer.end_of_rib(AfiSafi::IPV4_UNICAST, &mut end_of_rib);
        packer.end_of_rib(AfiSafi::IPV6_UNICAST, &mut end_of_rib);
        let mut all = Vec::new();
        let mut parts = Vec::with_capacity(tables.len());
        for t in tables {
            let body = t.strip_suffix(end_of_rib.as_slice()).unwrap_or(t);
            let start = all.len();
            all.extend_from_slice(body);
            parts.push(start..all.len());
        }
        ReplayTables {
            all,
            parts,
            end_of_rib,
        }
    }

    /// The part of `range` of all routes that client `i` receives (not its own).
    fn in_range(&self, i: usize, range: std::ops::Range<usize>) -> [&[u8]; 2] {
        let own = self.parts.get(i).cloned().unwrap_or(0..0);
        let before = range.start.min(own.start)..range.end.min(own.start);
        let after = range.start.max(own.end)..range.end.max(own.end);
        [&self.all[before], &self.all[after]]
    }

    /// What client `i` receives: every other client's routes, then End-of-RIB.
    pub fn for_client(&self, i: usize) -> [&[u8]; 3] {
        let [before, after] = self.in_range(i, 0..self.all.len());
        [before, after, &self.end_of_rib]
    }
}

/// Serve the scenario's clients on `listen` until the process is stopped.
pub async fn serve(
    scenario: &Scenario,
    tables: ReplayTables,
    listen: SocketAddr,
    hold_time: u16,
) -> io::Result<()> {
    if scenario.excluded_count.iter().any(|&n| n > 0) {
        return Err(io::Error::other(
            "replay sends every route to every other client: use --action-percent 0",
        ));
    }
    let by_address: HashMap<IpAddr, usize> = scenario
        .clients
        .iter()
        .enumerate()
        .map(|(i, c)| (IpAddr::V4(c.v4), i))
        .collect();
    let (go_tx, go_rx) = watch::channel(false);
    let go_tx = Arc::new(go_tx);
    let (writers_tx, writers_rx) = mpsc::unbounded_channel();
    tokio::spawn(pump(tables, writers_rx, go_rx, hold_time));
    // Accepted sockets inherit the listener's send buffer: a small one keeps
    // what waits in the kernel for a client near what it has read.
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.set_send_buffer_size(SNDBUF)?;
    socket.bind(listen)?;
    let listener = socket.listen(1024)?;
    loop {
        // One failed accept (a connection reset before it was taken, no file
        // descriptor left) costs that session, not the server.
        let (stream, from) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("replay: accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Connections from elsewhere (the harness's "is it listening" probe) are closed.
        let Some(&client) = by_address.get(&from.ip()) else {
            continue;
        };
        let (go_tx, writers_tx) = (go_tx.clone(), writers_tx.clone());
        tokio::spawn(async move {
            // A session that fails ends alone; the harness counts it as a reset.
            let _ = session(stream, client, hold_time, &go_tx, writers_tx).await;
        });
    }
}

/// The OPEN exchange, then the session's write half goes to the pump and its
/// read half is framed and dropped here, its first UPDATE starting the pump.
async fn session(
    stream: TcpStream,
    client: usize,
    hold_time: u16,
    go_tx: &watch::Sender<bool>,
    writers: mpsc::UnboundedSender<(usize, OwnedWriteHalf)>,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (mut read, mut write) = stream.into_split();
    let ctx = codec_context();
    let open = open(RS_ASN, hold_time, std::net::Ipv4Addr::new(192, 0, 2, 254));
    let mut out = Vec::new();
    encode_message(&Message::Open(open), &ctx, &mut out).map_err(io::Error::other)?;
    encode_message(&Message::Keepalive, &ctx, &mut out).map_err(io::Error::other)?;
    write.write_all(&out).await?;
    writers.send((client, write)).map_err(io::Error::other)?;
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        while let Some(f) = frame(&buf, 65535).map_err(|n| io::Error::other(n.describe()))? {
            if f.msg_type == msg_type::UPDATE && !*go_tx.borrow() {
                let _ = go_tx.send(true);
            }
            let len = f.message.len();
            buf.drain(..len);
        }
        buf.reserve(64 * 1024);
        if read.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
    }
}

/// Bytes of the stream written to every client before the next: all clients
/// advance through the routes together, as a route server sends each route
/// to all its receivers at once. (Each client in turn writing its whole
/// stream at once was slower to read: 300 clients at different places in the
/// routes, so the harness's look-ups missed its caches, and the kernel's TCP
/// memory ran out.)
const CHUNK: usize = 64 * 1024;

/// Each session's send buffer (the kernel doubles it for its bookkeeping).
/// Measured with one task per client (300 × 1,000, `--client-rcvbuf 65536`;
/// and 30 × 1,000): 64 KiB 3.35 s and 0.04 s; 128 KiB 3.8 s and 0.04 s;
/// 32 KiB with 256 KiB chunks 4.9 s and 0.45 s. (With one task writing to
/// each client in turn, the kernel's autotuning took 14–16 s at 300: its TCP
/// memory ran out.)
const SNDBUF: u32 = 64 * 1024;

/// Writes the tables, in step, to every session registered when the first
/// UPDATE arrived (later ones get theirs alone), then KEEPALIVEs. A client
/// that stops reading holds everyone up: a floor is measured with a harness
/// that reads.
async fn pump(
    tables: ReplayTables,
    mut writers_rx: mpsc::UnboundedReceiver<(usize, OwnedWriteHalf)>,
    mut go_rx: watch::Receiver<bool>,
    hold_time: u16,
) {
    let interval = Duration::from_secs(u64::from((hold_time / 3).max(1)));
    let mut ticks = tokio::time::interval(interval);
    let mut writers: Vec<Option<(usize, OwnedWriteHalf)>> = Vec::new();
    // Until the first UPDATE: sessions register, and are kept alive.
    loop {
        if *go_rx.borrow_and_update() {
            break;
        }
        tokio::select! {
            changed = go_rx.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            w = writers_rx.recv() => match w {
                Some(w) => writers.push(Some(w)),
                None => return,
            },
            _ = ticks.tick() => keepalives(&mut writers).await,
        }
    }
    while let Ok(w) = writers_rx.try_recv() {
        writers.push(Some(w));
    }
    // One task per client, all at the same chunk: each writes its part of a
    // chunk, then waits for the others (a single task writing to each client
    // in turn waited on every slow socket in turn: 2 s for 30 clients).
    let tables = Arc::new(tables);
    let barrier = Arc::new(tokio::sync::Barrier::new(writers.len()));
    let mut tasks = tokio::task::JoinSet::new();
    for (client, mut write) in writers.drain(..).flatten() {
        let (tables, barrier) = (tables.clone(), barrier.clone());
        tasks.spawn(async move {
            // A client whose write failed still takes its turns at the barrier.
            let mut ok = true;
            let mut at = 0;
            while at < tables.all.len() {
                let chunk = at..(at + CHUNK).min(tables.all.len());
                for part in tables.in_range(client, chunk.clone()) {
                    ok = ok && write.write_all(part).await.is_ok();
                }
                barrier.wait().await;
                at = chunk.end;
            }
            ok = ok && write.write_all(&tables.end_of_rib).await.is_ok();
            ok.then_some((client, write))
        });
    }
    while let Some(done) = tasks.join_next().await {
        if let Ok(Some(w)) = done {
            writers.push(Some(w));
        }
    }
    loop {
        tokio::select! {
            late = writers_rx.recv() => {
                let Some((client, mut write)) = late else { return };
                let mut ok = true;
                for part in tables.for_client(client) {
                    ok = ok && write.write_all(part).await.is_ok();
                }
                if ok {
                    writers.push(Some((client, write)));
                }
            }
            _ = ticks.tick() => keepalives(&mut writers).await,
        }
    }
}

async fn keepalives(writers: &mut [Option<(usize, OwnedWriteHalf)>]) {
    for slot in writers {
        if let Some((_, write)) = slot
            && write.write_all(&KEEPALIVE).await.is_err()
        {
            *slot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::encode_table;
    use crate::scenario::ScenarioSpec;

    #[test]
    fn each_client_gets_every_other_table_once_and_one_end_of_rib() {
        let scenario = Scenario::generate(ScenarioSpec {
            clients: 3,
            prefixes: 40,
            v6_percent: 20,
            seed: 7,
            action_percent: 0,
            invalid: false,
            v4_base: [127, 1],
        })
        .expect("scenario");
        let tables: Vec<Vec<u8>> = (0..3)
            .map(|i| encode_table(&scenario, i).expect("table"))
            .collect();
        let replay = ReplayTables::new(&tables);
        let eor_len = replay.end_of_rib.len();
        assert!(eor_len > 0);
        for i in 0..3 {
            let sent: Vec<u8> = replay.for_client(i).concat();
            let mut expected = Vec::new();
            for (j, t) in tables.iter().enumerate() {
                if j != i {
                    expected.extend_from_slice(&t[..t.len() - eor_len]);
                }
            }
            expected.extend_from_slice(&replay.end_of_rib);
            assert_eq!(sent, expected, "client {i}");
            // The pump's chunks, of any size, add up to the same stream.
            for chunk in [1, 7, 1000, replay.all.len()] {
                let mut stepped: Vec<u8> = Vec::new();
                let mut at = 0;
                while at < replay.all.len() {
                    let range = at..(at + chunk).min(replay.all.len());
                    for part in replay.in_range(i, range.clone()) {
                        stepped.extend_from_slice(part);
                    }
                    at = range.end;
                }
                stepped.extend_from_slice(&replay.end_of_rib);
                assert_eq!(stepped, expected, "client {i}, chunks of {chunk}");
            }
        }
    }
}
