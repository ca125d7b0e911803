//! The floor of a measurement: a "route server" that does no routing.
//!
//! On a 2-CPU machine the harness's clients share one CPU and read every
//! UPDATE a server sends them, so a run's time is bounded below by the
//! harness and the kernel, not only by the server. `--rs replay` measures that
//! bound: this process (pinned like the others) completes each session's
//! OPEN exchange, and as soon as any client announces, sends every client the
//! other clients' tables exactly as they encoded them — the bytes a
//! transparent route server without policy changes would send, prepared once,
//! with no decision and no per-client work. Nothing a real server does can be
//! measured faster here than this.
//!
//! Only for scenarios where every route goes to every other client (no action
//! communities) and no policy change (`--swap`).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use kumo_wire::{
    AfiSafi, Capability, CodecContext, Message, Open, UpdatePacker, encode_message, frame, msg_type,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

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
        let ctx = context();
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

    /// What client `i` receives: every other client's routes, then End-of-RIB.
    pub fn for_client(&self, i: usize) -> [&[u8]; 3] {
        let part = self.parts.get(i).cloned().unwrap_or(0..0);
        [&self.all[..part.start], &self.all[part.end..], &self.end_of_rib]
    }
}

fn context() -> CodecContext {
    CodecContext {
        four_octet_as: true,
        ..Default::default()
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
    let tables = Arc::new(tables);
    let (go_tx, go_rx) = watch::channel(false);
    let go_tx = Arc::new(go_tx);
    let listener = TcpListener::bind(listen).await?;
    loop {
        let (stream, from) = listener.accept().await?;
        // Connections from elsewhere (the harness's "is it listening" probe) are closed.
        let Some(&client) = by_address.get(&from.ip()) else {
            continue;
        };
        let (tables, go_tx, go_rx) = (tables.clone(), go_tx.clone(), go_rx.clone());
        tokio::spawn(async move {
            // A session that fails ends alone; the harness counts it as a reset.
            let _ = session(stream, client, &tables, hold_time, &go_tx, go_rx).await;
        });
    }
}

async fn session(
    stream: TcpStream,
    client: usize,
    tables: &ReplayTables,
    hold_time: u16,
    go_tx: &watch::Sender<bool>,
    mut go_rx: watch::Receiver<bool>,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (mut read, mut write) = stream.into_split();
    let ctx = context();
    let mut buf = Vec::with_capacity(64 * 1024);
    // The OPEN exchange: theirs, ours and a KEEPALIVE; the rest of what they
    // send is framed and dropped, its first UPDATE starting everyone's tables.
    let open = Open {
        version: 4,
        my_as: u16::try_from(RS_ASN).unwrap_or(kumo_wire::AS_TRANS),
        hold_time,
        bgp_id: std::net::Ipv4Addr::new(192, 0, 2, 254),
        capabilities: vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
            Capability::FourOctetAs(RS_ASN),
        ],
    };
    let mut out = Vec::new();
    encode_message(&Message::Open(open), &ctx, &mut out).map_err(io::Error::other)?;
    encode_message(&Message::Keepalive, &ctx, &mut out).map_err(io::Error::other)?;
    write.write_all(&out).await?;
    let reader = async move {
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
                return Ok::<(), io::Error>(());
            }
        }
    };
    let writer = async move {
        let keepalive = [
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0,
            19,
            msg_type::KEEPALIVE,
        ];
        go_rx.wait_for(|&go| go).await.map_err(io::Error::other)?;
        for part in tables.for_client(client) {
            write.write_all(part).await?;
        }
        let interval = Duration::from_secs(u64::from((hold_time / 3).max(1)));
        loop {
            tokio::time::sleep(interval).await;
            write.write_all(&keepalive).await?;
        }
    };
    tokio::select! {
        r = reader => r,
        r = writer => r,
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
        }
    }
}
