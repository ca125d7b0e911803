//! Hostile peers against a running kumo (in this process): a TCP reset in the
//! middle of an UPDATE, a peer that stops reading, a half-open peer, a flap
//! storm, a connection flood from unconfigured addresses, an UPDATE burst
//! beyond max-prefix and extended UPDATEs dribbled in small pieces. In each,
//! two well-behaved clients (an announcer and a receiver) must keep their
//! sessions and routes. Each test prints its figures
//! (`cargo test -p kumo --test hostile_peers -- --nocapture --test-threads=1`).
//! Bounds are on memory and correctness only, never on time.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use kumo::daemon::Daemon;
use kumo::outqueue::STALL;
use kumo::speaker::{Speaker, SpeakerConfig, SpeakerError};
use kumo_session::State;
use kumo_wire::{
    AfiSafi, AsPath, AsPathSegment, Capability, CodecContext, Message, Nlri, Open, Origin, PathAttributes,
    UpdatePacker, decode_message, encode_message, frame,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const NET: u8 = 231;
const WAIT: Duration = Duration::from_secs(10);
const ANNOUNCER: u8 = 2;
const RECEIVER: u8 = 3;
const HOSTILE: u8 = 4;

/// The tests share one process, so one at a time: the memory figures of one
/// must not include another's daemon.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn addr(host: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, NET, host))
}

/// kumo with the announcer (AS65002), the receiver (AS65003), the hostile
/// client (AS65004, `hostile_extra` added to its table) and `flappers` more
/// clients at .10 onwards (AS65100 onwards).
async fn start(hostile_extra: &str, flappers: u8) -> Daemon {
    let mut text = format!(
        "[server]\nasn = 64500\nrouter_id = \"192.0.2.254\"\nlisten = [\"127.0.{NET}.1:0\"]\nhold_time = 30\n\n\
         [[clients]]\nname = \"announcer\"\nasn = 65002\nip = [\"127.0.{NET}.{ANNOUNCER}\"]\n\n\
         [[clients]]\nname = \"receiver\"\nasn = 65003\nip = [\"127.0.{NET}.{RECEIVER}\"]\n\n\
         [[clients]]\nname = \"hostile\"\nasn = 65004\nip = [\"127.0.{NET}.{HOSTILE}\"]\n{hostile_extra}\n"
    );
    for i in 0..flappers {
        text.push_str(&format!(
            "\n[[clients]]\nname = \"flapper{i}\"\nasn = {}\nip = [\"127.0.{NET}.{}\"]\n",
            65100 + u32::from(i),
            10 + i
        ));
    }
    Daemon::start(kumo_config::parse(&text).unwrap()).await.unwrap()
}

fn speaker(host: u8, asn: u32) -> SpeakerConfig {
    SpeakerConfig {
        hold_time: 30,
        ..SpeakerConfig::new(addr(host), asn, Ipv4Addr::new(10, 0, 0, host))
    }
}

fn attrs(asn: u32, med: u32) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from(vec![AsPathSegment::Sequence(vec![asn])])),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 9)),
        med: Some(med),
        ..Default::default()
    }
}

/// `count` distinct /24s under `first.second.0.0/8`-style numbering.
fn prefixes(first: u8, count: usize) -> Vec<IpNet> {
    (0..count)
        .map(|i| {
            IpNet::new(
                IpAddr::V4(Ipv4Addr::new(first, (i / 256) as u8, (i % 256) as u8, 0)),
                24,
            )
            .unwrap()
        })
        .collect()
}

fn has_all(s: &Speaker, prefixes: &[IpNet], med: Option<u32>) -> bool {
    prefixes.iter().all(|p| {
        let key = Nlri {
            prefix: *p,
            path_id: None,
        };
        s.rib
            .get(&key)
            .is_some_and(|a| med.is_none_or(|m| a.med == Some(m)))
    })
}

fn count_under(s: &Speaker, first: u8) -> usize {
    s.rib
        .keys()
        .filter(|n| matches!(n.prefix.addr(), IpAddr::V4(a) if a.octets()[0] == first))
        .count()
}

async fn state_of(daemon: &Daemon, name: &str) -> State {
    let (id, _) = daemon.peer_by_name(name).unwrap();
    daemon
        .query(move |core| core.clients()[id.0 as usize].status.snapshot().state)
        .await
        .unwrap()
}

/// Resident memory of this process (the daemon runs in it), KiB.
fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// The well-behaved pair: the announcer's routes (10.0.0.0/24 ...) are at the receiver.
struct Pair {
    announcer: Speaker,
    receiver: Speaker,
    routes: Vec<IpNet>,
}

impl Pair {
    async fn up(bgp: SocketAddr, count: usize) -> Pair {
        let mut announcer = Speaker::connect(&speaker(ANNOUNCER, 65002), bgp).await.unwrap();
        let mut receiver = Speaker::connect(&speaker(RECEIVER, 65003), bgp).await.unwrap();
        let routes = prefixes(10, count);
        announcer.announce(&attrs(65002, 1), None, &routes).await.unwrap();
        assert!(
            receiver
                .recv_until(WAIT, |s| has_all(s, &routes, Some(1)))
                .await
                .unwrap()
        );
        Pair {
            announcer,
            receiver,
            routes,
        }
    }

    /// Both sessions are up (no NOTIFICATION, kumo says Established) and the
    /// receiver has every announcer route, unchanged.
    async fn untouched(&mut self, daemon: &Daemon) -> bool {
        let a = self
            .announcer
            .recv_until(Duration::from_millis(50), |_| false)
            .await;
        let r = self
            .receiver
            .recv_until(Duration::from_millis(50), |_| false)
            .await;
        matches!(a, Ok(false))
            && matches!(r, Ok(false))
            && has_all(&self.receiver, &self.routes, Some(1))
            && state_of(daemon, "announcer").await == State::Established
            && state_of(daemon, "receiver").await == State::Established
    }
}

fn open_bytes(asn: u32, hold_time: u16, host: u8, extended_message: bool) -> Vec<u8> {
    let mut capabilities = vec![
        Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
        Capability::FourOctetAs(asn),
    ];
    if extended_message {
        capabilities.push(Capability::ExtendedMessage);
    }
    let open = Open {
        version: 4,
        my_as: u16::try_from(asn).unwrap_or(kumo_wire::AS_TRANS),
        hold_time,
        bgp_id: Ipv4Addr::new(10, 0, 0, host),
        capabilities,
    };
    let mut bytes = Vec::new();
    encode_message(&Message::Open(open), &CodecContext::default(), &mut bytes).unwrap();
    encode_message(&Message::Keepalive, &CodecContext::default(), &mut bytes).unwrap();
    bytes
}

/// A session from a raw socket (so the test decides when, and whether, it
/// reads), Established once kumo's KEEPALIVE arrives. `recv_buffer` shrinks
/// the socket's receive buffer.
async fn raw_session(
    bgp: SocketAddr,
    host: u8,
    asn: u32,
    hold_time: u16,
    recv_buffer: Option<u32>,
) -> TcpStream {
    raw_session_with(bgp, host, asn, hold_time, recv_buffer, false).await
}

/// [`raw_session`], offering the Extended Message capability (RFC 8654) if
/// `extended_message`.
async fn raw_session_with(
    bgp: SocketAddr,
    host: u8,
    asn: u32,
    hold_time: u16,
    recv_buffer: Option<u32>,
    extended_message: bool,
) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    socket.bind(SocketAddr::new(addr(host), 0)).unwrap();
    let mut stream = socket.connect(bgp).await.unwrap();
    stream
        .write_all(&open_bytes(asn, hold_time, host, extended_message))
        .await
        .unwrap();
    let (seen, notification) = read_messages(&mut stream, WAIT, |m| m == "KEEPALIVE").await;
    assert!(
        notification.is_none() && seen.contains(&"KEEPALIVE"),
        "{seen:?} {notification:?}"
    );
    stream
}

/// Read until `stop(name)` of a message, a NOTIFICATION, the end of the
/// connection or `timeout`: the messages' names and the NOTIFICATION, if any.
async fn read_messages(
    stream: &mut TcpStream,
    timeout: Duration,
    stop: impl Fn(&str) -> bool,
) -> (Vec<&'static str>, Option<(u8, u8, Vec<u8>)>) {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = Vec::new();
    let mut seen = Vec::new();
    let ctx = CodecContext {
        four_octet_as: true,
        ..CodecContext::default()
    };
    loop {
        while let Ok(Some(f)) = frame(&buf, kumo_wire::MAX_MESSAGE_LEN) {
            let len = f.message.len();
            let name = match decode_message(f.message, &ctx).map(|d| d.message) {
                Ok(Message::Notification(n)) => return (seen, Some((n.code, n.subcode, n.data))),
                Ok(Message::Open(_)) => "OPEN",
                Ok(Message::Keepalive) => "KEEPALIVE",
                Ok(Message::Update(_)) => "UPDATE",
                Ok(_) => "other",
                Err(_) => "undecodable",
            };
            seen.push(name);
            buf.drain(..len);
            if stop(name) {
                return (seen, None);
            }
        }
        let mut chunk = [0u8; 16384];
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                seen.push("EOF");
                return (seen, None);
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return (seen, None),
        }
    }
}

fn update_bytes(asn: u32, prefixes: &[IpNet]) -> Vec<u8> {
    update_bytes_with(asn, prefixes, false)
}

/// UPDATEs announcing `prefixes`, packed into messages of up to 65,535
/// octets if `extended_message`.
fn update_bytes_with(asn: u32, prefixes: &[IpNet], extended_message: bool) -> Vec<u8> {
    updates(&attrs(asn, 5), prefixes, extended_message)
}

/// UPDATEs announcing `prefixes` with `attrs`, packed into messages of up
/// to 65,535 octets if `extended_message`.
fn updates(attrs: &PathAttributes, prefixes: &[IpNet], extended_message: bool) -> Vec<u8> {
    let ctx = CodecContext {
        four_octet_as: true,
        extended_message,
        ..CodecContext::default()
    };
    let nlri: Vec<Nlri> = prefixes
        .iter()
        .map(|p| Nlri {
            prefix: *p,
            path_id: None,
        })
        .collect();
    let mut bytes = Vec::new();
    UpdatePacker::new(&ctx)
        .announce(attrs, AfiSafi::IPV4_UNICAST, None, &nlri, &mut bytes)
        .unwrap();
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_reset_in_the_middle_of_an_update_drops_that_session_only() {
    let _serial = SERIAL.lock().await;
    let daemon = start("", 0).await;
    let bgp = daemon.listening[0];
    let mut pair = Pair::up(bgp, 100).await;

    let mut hostile = raw_session(bgp, HOSTILE, 65004, 30, None).await;
    let own = prefixes(20, 10);
    hostile.write_all(&update_bytes(65004, &own)).await.unwrap();
    assert!(
        pair.receiver
            .recv_until(WAIT, |s| has_all(s, &own, None))
            .await
            .unwrap()
    );

    // Half of the next UPDATE, then an abortive close (RST, SO_LINGER 0).
    let next = update_bytes(65004, &prefixes(21, 50));
    let half = next.len() / 2;
    hostile.write_all(&next[..half]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    hostile.set_zero_linger().unwrap();
    let reset_at = Instant::now();
    drop(hostile);

    assert!(
        pair.receiver
            .recv_until(WAIT, |s| count_under(s, 20) == 0)
            .await
            .unwrap(),
        "the reset client's routes were not withdrawn"
    );
    let withdrawn_after = reset_at.elapsed();
    let leaked = count_under(&pair.receiver, 21);
    let hostile_state = state_of(&daemon, "hostile").await;
    println!(
        "tcp reset: sent {half} of {} octets of an UPDATE, then RST; the client's {} routes withdrawn \
         after {withdrawn_after:?}; routes of the cut UPDATE at the receiver: {leaked}; its session {hostile_state:?}",
        next.len(),
        own.len()
    );
    assert_eq!(leaked, 0, "a route of the half UPDATE got through");
    assert_ne!(hostile_state, State::Established);
    assert!(pair.untouched(&daemon).await, "the other clients were touched");
    println!(
        "tcp reset: others untouched, routes lost: 0 of {}",
        pair.routes.len()
    );
}

/// kumo reads at most 16 KiB at a time and releases a session's buffer
/// whenever it has decoded everything in it: extended UPDATEs of ~48 and
/// ~16 KB that arrive in 999-octet pieces (never on a message boundary) have
/// to be put together across many reads, the buffer growing around a partial
/// message and keeping the start of the next one after a complete one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extended_update_dribbled_in_small_pieces_arrives_whole() {
    let _serial = SERIAL.lock().await;
    let daemon = start("", 0).await;
    let bgp = daemon.listening[0];
    let mut pair = Pair::up(bgp, 100).await;

    let mut slow = raw_session_with(bgp, HOSTILE, 65004, 30, None, true).await;
    let own = prefixes(30, 16_000);
    let (big, small) = own.split_at(12_000);
    let mut bytes = update_bytes_with(65004, big, true);
    let first_len = usize::from(u16::from_be_bytes([bytes[16], bytes[17]]));
    assert!(
        first_len > 40_000 && first_len == bytes.len(),
        "the first UPDATE is {first_len} of {} octets: not one extended message",
        bytes.len()
    );
    for chunk in small.chunks(2_000) {
        bytes.extend(update_bytes_with(65004, chunk, true));
    }
    for piece in bytes.chunks(999) {
        slow.write_all(piece).await.unwrap();
        slow.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let arrived = pair
        .receiver
        .recv_until(WAIT, |s| has_all(s, &own, Some(5)))
        .await
        .unwrap();
    // kumo's KEEPALIVEs and nothing else: no NOTIFICATION for the slow peer.
    let (seen, notification) = read_messages(&mut slow, Duration::from_millis(200), |_| false).await;
    println!(
        "dribbled: {} octets in 3 UPDATEs ({} in the first) in 999-octet pieces; all {} prefixes at \
         the receiver: {arrived}; the sender saw {seen:?}",
        bytes.len(),
        first_len,
        own.len()
    );
    assert!(arrived, "the dribbled UPDATE's prefixes did not all arrive");
    assert!(notification.is_none(), "{notification:?}");
    assert_eq!(state_of(&daemon, "hostile").await, State::Established);
    assert!(pair.untouched(&daemon).await, "the other clients were touched");
}

/// Announce `burst` with `med` from the pair's announcer and wait until the
/// receiver has all of it, reading both sessions (so neither hold timer runs
/// out). On failure: which prefixes are missing, whether kumo accepted them
/// from the announcer, and how many changes wait in the receiver's queue.
async fn wave(
    daemon: &Daemon,
    pair: &mut Pair,
    burst: &[IpNet],
    med: u32,
    communities: u32,
    timeout: Duration,
) -> Result<(), (usize, String)> {
    let io = |e: SpeakerError| (burst.len(), e.to_string());
    if communities == 0 {
        pair.announcer
            .announce(&attrs(65002, med), None, burst)
            .await
            .map_err(io)?;
    } else {
        // Every prefix its own attribute set, so each change is an UPDATE of its own.
        for (i, p) in burst.iter().enumerate() {
            let mut a = attrs(65002, med);
            a.communities = (0..communities).map(|c| ((i as u32) << 16) | c).collect();
            pair.announcer
                .announce(&a, None, std::slice::from_ref(p))
                .await
                .map_err(io)?;
        }
    }
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let done = pair
            .receiver
            .recv_until(Duration::from_millis(500), |s| has_all(s, burst, Some(med)))
            .await
            .map_err(io)?;
        if done {
            return Ok(());
        }
        let _ = pair
            .announcer
            .recv_until(Duration::from_millis(10), |_| false)
            .await;
    }
    let missing: Vec<IpNet> = burst
        .iter()
        .filter(|p| !has_all(&pair.receiver, &[**p], Some(med)))
        .copied()
        .collect();
    let (announcer, _) = daemon.peer_by_name("announcer").unwrap();
    let (receiver, _) = daemon.peer_by_name("receiver").unwrap();
    let m = missing.clone();
    let (accepted, queued) = daemon
        .query(move |core| {
            let accepted = core
                .rib()
                .adj_rib_in(announcer)
                .filter(|p| m.contains(&p.prefix))
                .map(|p| p.accepted().map(|a| a.med()))
                .collect::<Vec<_>>();
            (accepted, core.clients()[receiver.0 as usize].outq.len())
        })
        .await
        .unwrap();
    Err((
        missing.len(),
        format!(
            "MED {med}: {} of {} prefixes never reached the receiver: {missing:?}; in kumo's Adj-RIB-In of the \
         announcer they are accepted with MED {accepted:?}; changes waiting in the receiver's queue: {queued}",
            missing.len(),
            burst.len()
        ),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_costs_bounded_memory() {
    let _serial = SERIAL.lock().await;
    let daemon = start("", 0).await;
    let bgp = daemon.listening[0];
    let mut pair = Pair::up(bgp, 10).await;
    // Established, then never read again (a 4 KiB receive buffer fills at once).
    let _stuck = raw_session(bgp, HOSTILE, 65004, 30, Some(4096)).await;

    // Each route its own UPDATE of about 850 octets (200 communities): a wave
    // is about 1.7 MB for the stuck peer, more than the socket buffers hold,
    // so kumo's writer for it blocks in the first waves and stays blocked.
    const ROUTES: usize = 2_000;
    const WAVES: u32 = 4;
    const COMMUNITIES: u32 = 200;
    let burst = prefixes(30, ROUTES);
    let before = vm_rss_kib();
    let mut after_wave = Vec::new();
    let mut lost = Vec::new();
    let started = Instant::now();
    for n in 1..=WAVES {
        // The stuck peer's queue is coalesced once its socket has had no room
        // for `STALL`: a release build sends the waves in ~0.3 s, before that,
        // so the last wave waits for it (debug builds took longer anyway).
        if n == WAVES {
            tokio::time::sleep((STALL + Duration::from_millis(500)).saturating_sub(started.elapsed())).await;
        }
        // Each wave changes every route (new MED): a queue that kept every
        // change for the stuck peer would grow with each wave.
        if let Err((missing, why)) = wave(
            &daemon,
            &mut pair,
            &burst,
            100 + n,
            COMMUNITIES,
            Duration::from_secs(2),
        )
        .await
        {
            // Not asserted here: the bug of `large_waves_reach_every_client`
            // (a lost export, with or without a stuck peer) shows up here too.
            println!("stopped reader: wave {n}: {why}");
            lost.push(missing);
        }
        after_wave.push(vm_rss_kib());
    }
    let elapsed = started.elapsed();
    let (stuck_id, _) = daemon.peer_by_name("hostile").unwrap();
    let stuck_queue = daemon
        .query(move |core| core.clients()[stuck_id.0 as usize].outq.len())
        .await
        .unwrap();
    let stuck_state = state_of(&daemon, "hostile").await;
    let first = after_wave[0];
    let last = *after_wave.last().unwrap();
    println!(
        "stopped reader: {WAVES} waves of {ROUTES} changed routes in {elapsed:?}; routes that never reached the \
         receiver, per failed wave: {lost:?}; \
         VmRSS before {before} KiB, after each wave {after_wave:?} KiB; growth wave 1 -> {WAVES}: {} KiB; \
         stuck peer {stuck_state:?} with {stuck_queue} changes queued (at most one per route)",
        last.saturating_sub(first)
    );
    assert!(pair.untouched(&daemon).await, "the other clients were touched");
    // Bounded: the stuck peer's backlog is at most one entry per route,
    // whatever the number of changes (its writer holds one encoded batch more).
    assert!(
        stuck_queue <= ROUTES + pair.routes.len(),
        "{stuck_queue} changes queued"
    );
    // VmRSS is printed, not bounded here: it grows with every wave with or
    // without a stuck peer (see `churn_of_attribute_sets_keeps_memory_bounded`).
}

/// Waves of changed routes, each route with an attribute set of its own, and
/// no stuck peer: memory must not grow with the number of waves. (It grew by
/// about 2.5 MB a wave of 2,000 new attribute sets, 1.7 MB on the wire, until
/// the core swept its attribute interner, `AttrInterner::sweep`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_of_attribute_sets_keeps_memory_bounded() {
    let _serial = SERIAL.lock().await;
    let daemon = start("", 0).await;
    let bgp = daemon.listening[0];
    let mut pair = Pair::up(bgp, 10).await;
    let burst = prefixes(30, 2_000);
    let mut after_wave = Vec::new();
    for n in 1..=8 {
        // Route losses (the other bug) do not matter here: only memory is checked.
        let _ = wave(&daemon, &mut pair, &burst, 100 + n, 200, Duration::from_secs(2)).await;
        after_wave.push(vm_rss_kib());
    }
    println!("churn: VmRSS after each wave {after_wave:?} KiB");
    // The first waves bring the allocator's arenas, the interner and the
    // output buffers to their working size (measured: +5 to +8 MiB over waves
    // 1-4, then flat within ~3 MiB, run to run). Memory that grew with every
    // wave (a leak of 2,000 attribute sets per wave is ~2.5 MiB) would add
    // ~10 MiB over the last four.
    let growth = after_wave[7].saturating_sub(after_wave[3]);
    assert!(
        growth < 6 * 1024,
        "memory grew by {growth} KiB over the last 4 waves"
    );
}

/// Waves of 20,000 changed routes from one client: every change must reach
/// the other client. Fails in about half the runs: a few prefixes (1 to 5 of
/// 20,000, different each run), accepted with the new MED in kumo's
/// Adj-RIB-In of the announcer, never reach the receiver, whose output queue
/// is empty; with no stuck or hostile peer at all. A second receiver misses
/// exactly the same prefixes, so they are lost in the core's export, before
/// the per-client queues.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_waves_reach_every_client() {
    let _serial = SERIAL.lock().await;
    let daemon = start("", 0).await;
    let bgp = daemon.listening[0];
    let mut pair = Pair::up(bgp, 10).await;
    let burst = prefixes(30, 20_000);
    for n in 1..=5 {
        if let Err((_, why)) = wave(&daemon, &mut pair, &burst, 100 + n, 0, Duration::from_secs(20)).await {
            panic!("{why}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_open_peer_is_dropped_by_the_hold_timer() {
    let _serial = SERIAL.lock().await;
    let daemon = start("hold_time = 3", 0).await;
    let bgp = daemon.listening[0];
    let mut pair = Pair::up(bgp, 100).await;
    let mut silent = raw_session(bgp, HOSTILE, 65004, 3, None).await;
    let own = prefixes(40, 5);
    silent.write_all(&update_bytes(65004, &own)).await.unwrap();
    assert!(
        pair.receiver
            .recv_until(WAIT, |s| has_all(s, &own, None))
            .await
            .unwrap()
    );

    // From now on the peer sends nothing (no KEEPALIVE): reading only shows what kumo does.
    let silent_from = Instant::now();
    let (seen, notification) = read_messages(&mut silent, WAIT, |_| false).await;
    let fired_after = silent_from.elapsed();
    let keepalives = seen.iter().filter(|m| **m == "KEEPALIVE").count();
    println!(
        "half-open: hold time 3 s; kumo sent {keepalives} KEEPALIVEs, then {notification:?} after {fired_after:?}"
    );
    assert_eq!(notification.map(|(c, s, _)| (c, s)), Some((4, 0)), "{seen:?}");
    assert!(
        pair.receiver
            .recv_until(WAIT, |s| count_under(s, 40) == 0)
            .await
            .unwrap()
    );
    assert_ne!(state_of(&daemon, "hostile").await, State::Established);
    assert!(pair.untouched(&daemon).await, "the other clients were touched");
    println!(
        "half-open: others untouched, routes lost: 0 of {}",
        pair.routes.len()
    );
}

/// 50 clients each open a session, announce 5 routes and drop it, 10 times
/// over, while the stable pair exchange 200 routes each way: the pair keep
/// their sessions, converge, and lose nothing; every flapper's route is gone
/// afterwards; the process's memory stays bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flap_storm_leaves_the_stable_clients_converged() {
    let _serial = SERIAL.lock().await;
    const FLAPPERS: u8 = 50;
    /// Resident memory the storm may add to the process (daemon and all
    /// 52 speakers): 50 sessions' buffers and a few hundred routes need far
    /// less; an unbounded queue or table under churn would not stay in it.
    const RSS_BOUND_KIB: u64 = 64 << 10;
    const CYCLES: usize = 10;
    const STABLE_ROUTES: usize = 200;
    let daemon = start("", FLAPPERS).await;
    let bgp = daemon.listening[0];
    let mut a = Speaker::connect(&speaker(ANNOUNCER, 65002), bgp).await.unwrap();
    let mut b = Speaker::connect(&speaker(RECEIVER, 65003), bgp).await.unwrap();
    let before = vm_rss_kib();
    let started = Instant::now();

    let mut storm = tokio::task::JoinSet::new();
    for i in 0..FLAPPERS {
        storm.spawn(async move {
            let asn = 65100 + u32::from(i);
            let (mut sessions, mut refused) = (0u32, 0u32);
            for cycle in 0..CYCLES {
                let mut s = loop {
                    match Speaker::connect(&speaker(10 + i, asn), bgp).await {
                        Ok(s) => break s,
                        // kumo may not have seen the previous connection close yet
                        // (collision, Cease 7): try again, as a router would.
                        Err(_) => {
                            refused += 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                };
                sessions += 1;
                let own: Vec<IpNet> = (0..5)
                    .map(|k| format!("172.{}.{cycle}.{}/32", 16 + i, k).parse().unwrap())
                    .collect();
                s.announce(&attrs(asn, 1), None, &own).await.unwrap();
                let _ = s.recv_until(Duration::from_millis(30), |_| false).await;
            }
            (sessions, refused)
        });
    }
    // Meanwhile the stable pair exchange routes in both directions.
    let from_a = prefixes(50, STABLE_ROUTES);
    let from_b = prefixes(51, STABLE_ROUTES);
    a.announce(&attrs(65002, 1), None, &from_a).await.unwrap();
    b.announce(&attrs(65003, 1), None, &from_b).await.unwrap();
    let mut sessions = 0;
    let mut refused = 0;
    let mut peak = before;
    while !storm.is_empty() {
        // Keep reading both stable sessions while the storm runs.
        let _ = a.recv_until(Duration::from_millis(20), |_| false).await;
        let _ = b.recv_until(Duration::from_millis(20), |_| false).await;
        peak = peak.max(vm_rss_kib());
        while let Some(done) = storm.try_join_next() {
            let (s, r) = done.unwrap();
            sessions += s;
            refused += r;
        }
    }
    let storm_time = started.elapsed();
    // After the storm, only the stable routes remain: flappers' routes are all withdrawn.
    let only_stable = |s: &Speaker, want: &[IpNet]| s.rib.len() == want.len() && has_all(s, want, Some(1));
    for (s, want, name) in [(&mut a, &from_b, "a"), (&mut b, &from_a, "b")] {
        let ok = s.recv_until(WAIT, |s| only_stable(s, want)).await.unwrap();
        let stale: Vec<IpNet> = s
            .rib
            .keys()
            .map(|n| n.prefix)
            .filter(|p| !want.contains(p))
            .collect();
        assert!(
            ok,
            "{name}: {} of {} stable routes, and {} others: {stale:?}",
            s.rib.len() - stale.len(),
            want.len(),
            stale.len()
        );
    }
    let settled = started.elapsed();
    let lost = (STABLE_ROUTES - count_under(&a, 51)) + (STABLE_ROUTES - count_under(&b, 50));
    let after = vm_rss_kib();
    peak = peak.max(after);
    println!(
        "flap storm: {FLAPPERS} clients x {CYCLES} cycles = {sessions} sessions ({refused} connects refused while \
         the previous one closed) in {storm_time:?}; stable pair settled after {settled:?} (recovered {:?} after \
         the storm ended); routes lost: {lost}; VmRSS {before} -> peak {peak} -> {after} KiB (bound +{RSS_BOUND_KIB})",
        settled.saturating_sub(storm_time)
    );
    assert_eq!(lost, 0);
    assert_eq!(sessions, u32::from(FLAPPERS) * CYCLES as u32);
    assert!(
        peak.saturating_sub(before) < RSS_BOUND_KIB,
        "VmRSS grew from {before} to {peak} KiB"
    );
    assert_eq!(state_of(&daemon, "announcer").await, State::Established);
    assert_eq!(state_of(&daemon, "receiver").await, State::Established);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_flood_from_unconfigured_addresses_is_refused() {
    let _serial = SERIAL.lock().await;
    let daemon = start("", 0).await;
    let bgp = daemon.listening[0];
    let mut pair = Pair::up(bgp, 100).await;
    const ROUNDS: u8 = 6;
    let before = vm_rss_kib();
    let started = Instant::now();
    let mut flood = tokio::task::JoinSet::new();
    for round in 0..ROUNDS {
        for host in 200..=250u8 {
            flood.spawn(async move {
                let socket = TcpSocket::new_v4().unwrap();
                socket.bind(SocketAddr::new(addr(host), 0)).unwrap();
                let Ok(mut stream) = socket.connect(bgp).await else {
                    return None;
                };
                // Half the connections send an OPEN first, half nothing.
                if round % 2 == 0 {
                    let _ = stream.write_all(&open_bytes(65099, 90, host, false)).await;
                }
                let (_, notification) = read_messages(&mut stream, WAIT, |_| false).await;
                notification.map(|(c, s, _)| (c, s))
            });
        }
    }
    let mut rejected = 0;
    let mut other = Vec::new();
    while let Some(r) = flood.join_next().await {
        match r.unwrap() {
            Some((6, 5)) => rejected += 1,
            x => other.push(x),
        }
    }
    let total = usize::from(ROUNDS) * 51;
    println!(
        "connection flood: {total} connections from 127.0.{NET}.200-250 in {:?}: {rejected} got Cease/Connection \
         Rejected, others {other:?}; VmRSS {before} -> {} KiB",
        started.elapsed(),
        vm_rss_kib()
    );
    assert_eq!(rejected, total);
    assert!(
        pair.untouched(&daemon).await,
        "the configured clients were touched"
    );
    println!(
        "connection flood: configured clients untouched, routes lost: 0 of {}",
        pair.routes.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_burst_beyond_max_prefix_closes_that_session_only() {
    let _serial = SERIAL.lock().await;
    const LIMIT: usize = 100;
    const SENT: usize = 1000;
    let daemon = start(
        &format!("max_prefix = {{ ipv4 = {LIMIT}, action = \"shutdown\" }}"),
        0,
    )
    .await;
    let bgp = daemon.listening[0];
    let mut pair = Pair::up(bgp, 100).await;
    let mut hostile = Speaker::connect(&speaker(HOSTILE, 65004), bgp).await.unwrap();
    hostile
        .announce(&attrs(65004, 1), None, &prefixes(60, SENT))
        .await
        .unwrap();
    let got = hostile.recv_until(WAIT, |_| false).await;
    let Err(SpeakerError::Notification(n)) = got else {
        panic!("no NOTIFICATION: {got:?}")
    };
    let mut peak = 0;
    assert!(
        pair.receiver
            .recv_until(WAIT, |s| {
                peak = peak.max(count_under(s, 60));
                count_under(s, 60) == 0
            })
            .await
            .unwrap()
    );
    println!(
        "max-prefix: sent {SENT} prefixes against a limit of {LIMIT}: {}; at most {peak} of them seen by the \
         receiver before the session closed; now 0",
        n.describe()
    );
    assert_eq!((n.code, n.subcode), (6, 1));
    // RFC 4486: AFI, SAFI, the limit.
    assert_eq!(n.data, [0, 1, 1, 0, 0, 0, LIMIT as u8]);
    assert_ne!(state_of(&daemon, "hostile").await, State::Established);
    assert!(pair.untouched(&daemon).await, "the other clients were touched");
    println!(
        "max-prefix: others untouched, routes lost: 0 of {}",
        pair.routes.len()
    );
}

/// A route whose attributes only fit an extended message (RFC 8654), from a
/// client that negotiated it, cannot be sent to a client that did not: kumo
/// withdraws its prefix from that client instead (RFC 8654 §4: the path the
/// client held before must not stay in service), sends the routes around it
/// (`WriterFlow::Skipped`), and keeps every session. A route over the size
/// only because of ATOMIC_AGGREGATE and AGGREGATOR goes out without them
/// (RFC 8654 §4 asks for RFC 7606's "attribute discard" first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_too_big_for_a_receiver_is_withdrawn_from_it_and_the_rest_sent() {
    let _serial = SERIAL.lock().await;
    let daemon = start("", 0).await;
    let bgp = daemon.listening[0];
    let mut pair = Pair::up(bgp, 100).await;

    let mut big_sender = raw_session_with(bgp, HOSTILE, 65004, 30, None, true).await;
    // 1,200 communities: 4,800 octets of one attribute, over 4,096.
    let big = PathAttributes {
        communities: (0..1200u32).map(|i| (65004 << 16) | i).collect(),
        ..attrs(65004, 7)
    };
    let (too_big, after) = (prefixes(40, 3), prefixes(41, 50));
    // First a path the receiver can get, for the prefixes that then grow.
    big_sender
        .write_all(&updates(&attrs(65004, 6), &too_big, true))
        .await
        .unwrap();
    assert!(
        pair.receiver
            .recv_until(WAIT, |s| has_all(s, &too_big, Some(6)))
            .await
            .unwrap()
    );
    let mut bytes = updates(&big, &too_big, true);
    assert!(bytes.len() > kumo_wire::MAX_MESSAGE_LEN, "{} octets", bytes.len());
    bytes.extend(updates(&attrs(65004, 7), &after, true));
    // Just too big: as many communities as fit in one 4,096-octet UPDATE
    // of the three prefixes without ATOMIC_AGGREGATE and AGGREGATOR, which
    // make even one prefix's UPDATE too big.
    let just = prefixes(42, 3);
    let mut lean = attrs(65004, 8);
    let fits = |a: &PathAttributes, p: &[IpNet]| updates(a, p, true).len() <= kumo_wire::MAX_MESSAGE_LEN;
    while fits(&lean, &just) {
        lean.communities
            .push((65004 << 16) | lean.communities.len() as u32);
    }
    lean.communities.pop();
    let full = PathAttributes {
        atomic_aggregate: true,
        aggregator: Some(kumo_wire::Aggregator {
            asn: 65004,
            address: Ipv4Addr::new(192, 0, 2, 4),
        }),
        ..lean.clone()
    };
    assert!(!fits(&full, &just[..1]), "the route must be too big with them");
    bytes.extend(updates(&full, &just, true));
    big_sender.write_all(&bytes).await.unwrap();

    let arrived = pair
        .receiver
        .recv_until(WAIT, |s| has_all(s, &after, Some(7)))
        .await
        .unwrap();
    // The withdrawal comes with or before the rest.
    pair.receiver
        .recv_until(Duration::from_millis(300), |_| false)
        .await
        .unwrap();
    let (seen, notification) = read_messages(&mut big_sender, Duration::from_millis(200), |_| false).await;
    println!(
        "too big: {} octets sent; the receiver got the {} later routes: {arrived}, {} of the too big \
         ones; the sender saw {seen:?}",
        bytes.len(),
        after.len(),
        count_under(&pair.receiver, 40)
    );
    assert!(arrived, "the routes after the one too big did not arrive");
    assert!(
        pair.receiver
            .recv_until(WAIT, |s| has_all(s, &just, Some(8)))
            .await
            .unwrap(),
        "the route just too big did not arrive"
    );
    for p in &just {
        let got = &pair.receiver.rib[&Nlri {
            prefix: *p,
            path_id: None,
        }];
        assert_eq!(
            got, &lean,
            "{p}: not the route without its discardable attributes"
        );
    }
    assert_eq!(
        count_under(&pair.receiver, 40),
        0,
        "a route over 4,096 octets, or the path it replaced, is still at a client without extended messages"
    );
    assert!(notification.is_none(), "{notification:?}");
    assert_eq!(state_of(&daemon, "hostile").await, State::Established);
    assert!(pair.untouched(&daemon).await, "the other clients were touched");
}
