//! One benchmark client: a BGP session on kumo's codec that sends its
//! pre-encoded table when told to, keeps reading, and counts which of the
//! expected routes it holds.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kumo_wire::{
    AfiSafi, Capability, CodecContext, Message, MpNextHop, Nlri, Open, UpdatePacker, decode_message,
    encode_message, frame, msg_type,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};

use crate::scan::{Event, NextHop, scan_update};
use crate::scenario::{ClientSpec, PrefixKey, Scenario};

/// Errors of a benchmark client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{client}: i/o: {source}")]
    Io { client: String, source: io::Error },
    #[error("{client}: {what}")]
    Protocol { client: String, what: String },
    #[error("{client}: encode: {source}")]
    Encode {
        client: String,
        source: kumo_wire::EncodeError,
    },
}

/// Counters shared by all clients of a run.
#[derive(Debug, Default)]
pub struct Counters {
    /// NOTIFICATIONs received from the route server.
    pub notifications: AtomicU64,
    /// Of which Hold Timer Expired (code 4).
    pub hold_timer_expired_by_rs: AtomicU64,
    /// Sessions where the client's own hold timer ran out (nothing from the RS).
    pub hold_timer_expired_by_client: AtomicU64,
    /// Sessions closed by the route server (EOF or error).
    pub session_resets: AtomicU64,
    /// Prefixes received that no client announced.
    pub unknown_prefixes: AtomicU64,
    /// Routes received with a NEXT_HOP other than the announcer's.
    pub wrong_next_hop: AtomicU64,
    /// A client's own routes sent back to it.
    pub reflected: AtomicU64,
    /// UPDATE messages received, all clients.
    pub updates: AtomicU64,
}

/// A receiver reports whenever it becomes complete (`true`) or incomplete again.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub client: usize,
    pub complete: bool,
    pub at: Instant,
    /// Distinct expected routes held right now.
    pub held: usize,
    /// The phase the completeness refers to (0: full table; 1: after the
    /// export policy change, without the routes that exclude this client).
    pub phase: u8,
}

/// An established session, split for the reader and writer tasks.
#[derive(Debug)]
pub struct Established {
    pub client: usize,
    read: OwnedReadHalf,
    write: OwnedWriteHalf,
    /// Bytes read past the handshake.
    leftover: Vec<u8>,
    hold_time: u16,
}

/// The codec context of every session in a run (both sides: 4-octet ASNs).
pub fn codec_context() -> CodecContext {
    CodecContext {
        four_octet_as: true,
        ..Default::default()
    }
}

/// The OPEN both sides send: IPv4 and IPv6 unicast, 4-octet ASN.
pub fn open(asn: u32, hold_time: u16, bgp_id: std::net::Ipv4Addr) -> Open {
    Open {
        version: 4,
        my_as: u16::try_from(asn).unwrap_or(kumo_wire::AS_TRANS),
        hold_time,
        bgp_id,
        capabilities: vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
            Capability::FourOctetAs(asn),
        ],
    }
}

/// A KEEPALIVE: the bare 19-octet header.
pub const KEEPALIVE: [u8; 19] = {
    let mut m = [0xff; 19];
    m[16] = 0;
    m[17] = 19;
    m[18] = msg_type::KEEPALIVE;
    m
};

fn io_err(c: &ClientSpec) -> impl Fn(io::Error) -> ClientError + '_ {
    move |source| ClientError::Io {
        client: c.name.clone(),
        source,
    }
}

/// Connect from the client's address and complete the OPEN exchange;
/// `rcvbuf` > 0 fixes the socket's receive buffer (no autotuning).
pub async fn connect(
    spec: &ClientSpec,
    rs: SocketAddr,
    hold_time: u16,
    rcvbuf: u32,
) -> Result<Established, ClientError> {
    let socket = TcpSocket::new_v4().map_err(io_err(spec))?;
    if rcvbuf > 0 {
        socket.set_recv_buffer_size(rcvbuf).map_err(io_err(spec))?;
    }
    socket
        .bind(SocketAddr::new(IpAddr::V4(spec.v4), 0))
        .map_err(io_err(spec))?;
    let stream = socket.connect(rs).await.map_err(io_err(spec))?;
    stream.set_nodelay(true).map_err(io_err(spec))?;
    let (mut read, mut write) = stream.into_split();
    let ctx = codec_context();
    let open = open(spec.asn, hold_time, spec.v4);
    let mut out = Vec::new();
    encode_message(&Message::Open(open), &ctx, &mut out).map_err(|source| ClientError::Encode {
        client: spec.name.clone(),
        source,
    })?;
    write.write_all(&out).await.map_err(io_err(spec))?;
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut peer_hold = hold_time;
    let mut got_open = false;
    loop {
        while let Some(f) = frame(&buf, 65535).map_err(|n| ClientError::Protocol {
            client: spec.name.clone(),
            what: format!("framing: {}", n.describe()),
        })? {
            let len = f.message.len();
            match f.msg_type {
                msg_type::KEEPALIVE if got_open => {
                    buf.drain(..len);
                    return Ok(Established {
                        client: spec.index,
                        read,
                        write,
                        leftover: buf,
                        hold_time: peer_hold.min(hold_time),
                    });
                }
                msg_type::OPEN => {
                    if let Ok(d) = decode_message(f.message, &ctx)
                        && let Message::Open(o) = d.message
                    {
                        peer_hold = o.hold_time;
                    }
                    got_open = true;
                    out.clear();
                    encode_message(&Message::Keepalive, &ctx, &mut out).map_err(|source| {
                        ClientError::Encode {
                            client: spec.name.clone(),
                            source,
                        }
                    })?;
                    write.write_all(&out).await.map_err(io_err(spec))?;
                }
                msg_type::NOTIFICATION => {
                    let what = match decode_message(f.message, &ctx) {
                        Err(n) => format!("NOTIFICATION {}", n.describe()),
                        Ok(d) => format!("{:?}", d.message),
                    };
                    return Err(ClientError::Protocol {
                        client: spec.name.clone(),
                        what,
                    });
                }
                _ => {}
            }
            buf.drain(..len);
        }
        buf.reserve(4096);
        if read.read_buf(&mut buf).await.map_err(io_err(spec))? == 0 {
            return Err(ClientError::Protocol {
                client: spec.name.clone(),
                what: "closed during OPEN exchange".into(),
            });
        }
    }
}

/// The client's whole table as UPDATE bytes, then End-of-RIB for both families.
pub fn encode_table(scenario: &Scenario, client: usize) -> Result<Vec<u8>, ClientError> {
    let ctx = codec_context();
    let spec = &scenario.clients[client];
    let packer = UpdatePacker::new(&ctx);
    let mut out = Vec::new();
    for g in &scenario.groups[client] {
        let nlri: Vec<Nlri> = g
            .prefixes
            .iter()
            .map(|p| Nlri {
                prefix: *p,
                path_id: None,
            })
            .collect();
        let Some(first) = g.prefixes.first() else {
            continue;
        };
        let (family, mp) = match first {
            ipnet::IpNet::V4(_) => (AfiSafi::IPV4_UNICAST, None),
            ipnet::IpNet::V6(_) => (
                AfiSafi::IPV6_UNICAST,
                Some(MpNextHop::V6 {
                    global: spec.v6,
                    link_local: None,
                }),
            ),
        };
        packer
            .announce(&g.attrs, family, mp, &nlri, &mut out)
            .map_err(|source| ClientError::Encode {
                client: spec.name.clone(),
                source,
            })?;
    }
    packer.end_of_rib(AfiSafi::IPV4_UNICAST, &mut out);
    packer.end_of_rib(AfiSafi::IPV6_UNICAST, &mut out);
    Ok(out)
}

/// Writer: waits for `go`, sends `table`, then keeps the session alive with
/// KEEPALIVEs every hold time / 3 until `stop`.
pub async fn run_writer(
    mut write: OwnedWriteHalf,
    table: Vec<u8>,
    hold_time: u16,
    mut go: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let interval = Duration::from_secs(u64::from((hold_time / 3).max(1)));
    let mut sent_table = false;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            r = go.changed(), if !sent_table => {
                if r.is_err() { return; }
                if *go.borrow() {
                    sent_table = true;
                    if write.write_all(&table).await.is_err() { return; }
                }
            }
            _ = tokio::time::sleep(interval) => {
                if hold_time > 0 && write.write_all(&KEEPALIVE).await.is_err() { return; }
            }
        }
    }
}

/// The routes one reader holds, to count distinct routes exactly.
///
/// Per announcing client, the common case is kept without the bitmap: a
/// server sends each client's routes in the order announced, so what a
/// reader holds of it is its first `n` routes, and one counter per source
/// says so. Only a source whose routes arrive otherwise (a withdrawal, a
/// gap) is moved to the bitmap, for good. Why: with hundreds of readers
/// each bitmap left the cache between two reads of its socket, and setting
/// its bits was a cache miss per UPDATE, a third of the readers' time at
/// 300 × 1k.
#[derive(Debug)]
struct Held {
    /// One bit per route, for the routes of sources in `IN_BITS` mode.
    bits: Vec<u64>,
    /// Per source: the number of its first routes held (none in `bits`),
    /// or `IN_BITS` (`bits` says what is held).
    filled: Vec<u32>,
    /// Routes each client announces.
    per_source: u32,
    count: usize,
    /// Of `count`, routes whose `0:peer_as` names this client.
    excluded: usize,
    /// The route after the last one found: where the next is looked for first.
    next: u32,
    /// Per announcing client, the route after the last one found of it:
    /// where the next route with its NEXT_HOP is looked for first. A server
    /// interleaves the sources' routes in its own order (kumo: one run per
    /// source and batch) but keeps each source's in order; with only `next`
    /// every change of source missed and took the hash look-up (three
    /// quarters of the readers' look-up time at 300 × 1k against kumo).
    next_of: Vec<u32>,
}

/// [`Held::filled`] of a source whose routes are in the bitmap.
const IN_BITS: u32 = u32::MAX;

impl Held {
    fn new(sources: usize, per_source: usize) -> Self {
        Held {
            // Zeroed pages are only touched for sources in `IN_BITS` mode.
            bits: vec![0; (sources * per_source).div_ceil(64)],
            filled: vec![0; sources],
            per_source: per_source as u32,
            count: 0,
            excluded: 0,
            next: 0,
            next_of: vec![u32::MAX; sources],
        }
    }

    /// `id`'s source and position among its routes.
    fn place(&self, id: u32) -> (usize, u32) {
        let per = self.per_source.max(1);
        ((id / per) as usize, id % per)
    }

    fn set(&mut self, id: u32, excludes_me: bool) {
        let (source, k) = self.place(id);
        if let Some(filled) = self.filled.get_mut(source)
            && *filled != IN_BITS
        {
            if k == *filled {
                *filled += 1;
                self.count += 1;
                self.excluded += usize::from(excludes_me);
                return;
            }
            if k < *filled {
                return; // held already
            }
            self.spill(source);
        }
        let (w, b) = (id as usize / 64, id % 64);
        if self.bits[w] & (1 << b) == 0 {
            self.bits[w] |= 1 << b;
            self.count += 1;
            self.excluded += usize::from(excludes_me);
        }
    }

    fn clear(&mut self, id: u32, excludes_me: bool) {
        let (source, k) = self.place(id);
        if let Some(&filled) = self.filled.get(source)
            && filled != IN_BITS
        {
            if k >= filled {
                return; // not held
            }
            self.spill(source);
        }
        let (w, b) = (id as usize / 64, id % 64);
        if self.bits[w] & (1 << b) != 0 {
            self.bits[w] &= !(1 << b);
            self.count -= 1;
            self.excluded -= usize::from(excludes_me);
        }
    }

    /// Moves `source`'s held routes into the bitmap (counts unchanged).
    fn spill(&mut self, source: usize) {
        let first = source as u32 * self.per_source;
        for id in first..first + self.filled[source] {
            self.bits[id as usize / 64] |= 1 << (id % 64);
        }
        self.filled[source] = IN_BITS;
    }
}

/// Reader: frames and scans everything the route server sends, until `stop`
/// or the session ends; reports completeness changes on `progress`.
pub async fn run_reader(
    established_read: (usize, OwnedReadHalf, Vec<u8>, u16),
    scenario: Arc<Scenario>,
    counters: Arc<Counters>,
    progress: mpsc::UnboundedSender<Progress>,
    mut phase: watch::Receiver<u8>,
    mut stop: watch::Receiver<bool>,
) -> usize {
    let (me, mut read, mut buf, hold_time) = established_read;
    let expected = scenario.expected_per_client();
    let excluded_total = scenario.excluded_count[me];
    let mut held = Held::new(scenario.spec.clients, scenario.spec.prefixes);
    let mut complete = false;
    let mut reported_phase = *phase.borrow();
    let ctx = codec_context();
    let hold = if hold_time == 0 {
        Duration::from_secs(86400)
    } else {
        Duration::from_secs(u64::from(hold_time))
    };
    loop {
        // Everything complete in the buffer first.
        let mut consumed = 0;
        loop {
            let f = match frame(&buf[consumed..], 65535) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => {
                    counters.session_resets.fetch_add(1, Ordering::Relaxed);
                    return held.count;
                }
            };
            let len = f.message.len();
            match f.msg_type {
                msg_type::UPDATE => {
                    counters.updates.fetch_add(1, Ordering::Relaxed);
                    let r = scan_update(f.message, |e| apply(e, me, &scenario, &counters, &mut held));
                    if r.is_err() {
                        counters.session_resets.fetch_add(1, Ordering::Relaxed);
                        return held.count;
                    }
                }
                msg_type::NOTIFICATION => {
                    counters.notifications.fetch_add(1, Ordering::Relaxed);
                    if let Ok(d) = decode_message(f.message, &ctx)
                        && let Message::Notification(n) = d.message
                        && n.code == 4
                    {
                        counters.hold_timer_expired_by_rs.fetch_add(1, Ordering::Relaxed);
                    }
                    counters.session_resets.fetch_add(1, Ordering::Relaxed);
                    return held.count;
                }
                _ => {}
            }
            consumed += len;
        }
        buf.drain(..consumed);
        let now_phase = *phase.borrow();
        let now_complete = match now_phase {
            0 => held.count == expected,
            _ => held.excluded == 0 && held.count == expected - excluded_total,
        };
        if now_complete != complete || now_phase != reported_phase {
            complete = now_complete;
            reported_phase = now_phase;
            let _ = progress.send(Progress {
                client: me,
                complete,
                at: Instant::now(),
                held: held.count,
                phase: now_phase,
            });
        }
        buf.reserve(256 * 1024);
        tokio::select! {
            _ = stop.changed() => return held.count,
            // Re-evaluate completeness for the new phase at once.
            _ = phase.changed() => {}
            r = tokio::time::timeout(hold, read.read_buf(&mut buf)) => match r {
                Err(_) => {
                    counters.hold_timer_expired_by_client.fetch_add(1, Ordering::Relaxed);
                    return held.count;
                }
                Ok(Ok(0)) | Ok(Err(_)) => {
                    // At the end of a run the writer may close first: not a reset.
                    if !*stop.borrow() {
                        counters.session_resets.fetch_add(1, Ordering::Relaxed);
                    }
                    return held.count;
                }
                Ok(Ok(_)) => {
                    // Once the run stops, other clients' sessions close and the
                    // server withdraws their routes: that is teardown, not a loss.
                    if *stop.borrow() {
                        return held.count;
                    }
                }
            }
        }
    }
}

fn apply(e: Event, me: usize, scenario: &Scenario, counters: &Counters, held: &mut Held) {
    let (prefix, next_hop) = match e {
        Event::Announce { prefix, next_hop } => (prefix, Some(next_hop)),
        Event::Withdraw { prefix } => (prefix, None),
    };
    let key = PrefixKey {
        bits: prefix.bits,
        len: prefix.len,
        v6: prefix.v6,
    };
    let source = next_hop.flatten().and_then(|nh| scenario.owner_by_next_hop(nh));
    let hint = source
        .and_then(|o| held.next_of.get(o).copied())
        .unwrap_or(held.next);
    let Some(id) = scenario.index.get_after(key, hint) else {
        if next_hop.is_some() {
            counters.unknown_prefixes.fetch_add(1, Ordering::Relaxed);
        }
        return;
    };
    let owner = scenario.owner_of(id);
    held.next = id.wrapping_add(1);
    if let Some(next) = held.next_of.get_mut(owner) {
        *next = id.wrapping_add(1);
    }
    if owner == me {
        if next_hop.is_some() {
            counters.reflected.fetch_add(1, Ordering::Relaxed);
        }
        return;
    }
    let excludes_me = scenario.excluded[id as usize] == me as u32;
    match next_hop {
        None => held.clear(id, excludes_me),
        Some(nh) => {
            let want = scenario.next_hop_of(id, prefix.v6);
            let ok = match (nh, want) {
                (Some(NextHop::V4(a)), IpAddr::V4(b)) => a == b,
                (Some(NextHop::V6(a)), IpAddr::V6(b)) => a == b,
                _ => false,
            };
            if ok {
                held.set(id, excludes_me);
            } else {
                counters.wrong_next_hop.fetch_add(1, Ordering::Relaxed);
                held.clear(id, excludes_me);
            }
        }
    }
}

impl Established {
    /// Split into the writer half and what the reader needs.
    pub fn split(self) -> (OwnedWriteHalf, (usize, OwnedReadHalf, Vec<u8>, u16)) {
        (
            self.write,
            (self.client, self.read, self.leftover, self.hold_time),
        )
    }
    pub fn hold_time(&self) -> u16 {
        self.hold_time
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever the order of announcements and withdrawals, `Held`
        /// counts exactly the distinct routes held, and those excluding
        /// this client, as a plain set does.
        #[test]
        fn held_counts_exactly_the_distinct_routes_held(
            ops in prop::collection::vec((any::<bool>(), 0u32..3, 0u32..8), 0..200),
            in_order in 0usize..150,
        ) {
            let (sources, per) = (3usize, 8usize);
            let mut held = Held::new(sources, per);
            let mut model = BTreeSet::new();
            // Excluding routes: a fixed subset, as `Scenario::excluded` is.
            let excludes = |id: u32| id.is_multiple_of(5);
            // First in order (the fast path), then anything.
            let ordered = (0..sources as u32 * per as u32).map(|id| (true, id / 8, id % 8));
            let all: Vec<_> = ordered.take(in_order).chain(ops).collect();
            for (announce, source, k) in all {
                let id = source * per as u32 + k;
                if announce {
                    held.set(id, excludes(id));
                    model.insert(id);
                } else {
                    held.clear(id, excludes(id));
                    model.remove(&id);
                }
                prop_assert_eq!(held.count, model.len());
                prop_assert_eq!(held.excluded, model.iter().filter(|&&id| excludes(id)).count());
            }
        }
    }
}
