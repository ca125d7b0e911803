//! The tokio driver of one client's BGP session.
//!
//! The FSM ([`kumo_session::Fsm`]) decides; this task owns the socket and the
//! timers and carries the FSM's actions out. Reading and deciding happen here;
//! writing happens in a separate writer task so that a client that stops
//! reading can never block this task (its hold timer still runs) or the core.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use kumo_config::Client;
use kumo_rib::PeerId;
use kumo_session::{Action, DownReason, Event, Fsm, SessionConfig, State, Timer};
use kumo_wire::{
    AfiSafi, CodecContext, Message, Notification, UpdatePacker, decode_message, encode_message, frame,
    notification::{cease, code},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::core::CoreEvent;
use crate::outqueue::{Batch, OutQueue};
use crate::status::{SessionStatus, capability_summary};

/// Commands for a peer task.
#[derive(Debug)]
pub enum PeerCommand {
    /// The listener accepted a connection from this client's address.
    Incoming(TcpStream),
    /// Close the session with this NOTIFICATION; start again after `restart_after`, or stay down.
    Stop {
        notification: Notification,
        restart_after: Option<Duration>,
    },
    /// Start a stopped session.
    Start,
    /// Close the connection without a NOTIFICATION and end the task (kumo
    /// restarting for an upgrade: clients with Graceful Restart keep its routes).
    Disconnect,
}

/// Everything a peer task needs.
#[derive(Debug)]
pub struct PeerTask {
    pub id: PeerId,
    pub client: Arc<Client>,
    pub session: SessionConfig,
    /// Address to bind outgoing connections to (kumo's listen address of the same family).
    pub local_bind: Option<IpAddr>,
    pub outq: Arc<OutQueue>,
    pub core: mpsc::Sender<CoreEvent>,
    pub commands: mpsc::Receiver<PeerCommand>,
    pub status: Arc<SessionStatus>,
}

struct Connection {
    reader: OwnedReadHalf,
    remote: SocketAddr,
    writer: mpsc::Sender<WriterCommand>,
    buf: Vec<u8>,
    /// Bytes of `buf` already decoded (compacted once per read, not per message).
    start: usize,
}

enum WriterCommand {
    Send(Vec<u8>),
    /// The session is Established: start sending routes from the output queue.
    StartRoutes(CodecContext),
    /// Flush and close the connection.
    Close,
}

type ConnectFuture = Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send>>;

const READ_CHUNK: usize = 64 * 1024;

impl PeerTask {
    pub async fn run(mut self) {
        let mut fsm = Fsm::new(self.session.clone());
        let mut conn: Option<Connection> = None;
        let mut connecting: Option<ConnectFuture> = None;
        let mut timers: [Option<Instant>; 3] = [None; 3];
        let mut restart_at: Option<Instant> = None;
        // Stopped by a command (operator, max-prefix): incoming connections are refused.
        let mut admin_down = false;
        let mut rx_ctx = CodecContext::default();
        let mut pending = fsm.handle(Event::ManualStart);

        loop {
            // Carry out what the FSM decided.
            for action in pending.drain(..) {
                self.act(action, &mut conn, &mut connecting, &mut timers, &mut rx_ctx, &fsm)
                    .await;
            }
            if fsm.state() == State::Idle && conn.is_some() {
                close(&mut conn).await;
            }

            let next_timer = timers.iter().flatten().min().copied();
            let events: Vec<Event> = tokio::select! {
                cmd = self.commands.recv() => match cmd {
                    None => return, // kumo is shutting down
                    Some(PeerCommand::Incoming(stream)) => {
                        let events = self.incoming(stream, &mut conn, &fsm, admin_down).await;
                        if !events.is_empty() { connecting = None; }
                        events
                    }
                    Some(PeerCommand::Stop { notification, restart_after }) => {
                        restart_at = restart_after.map(|d| Instant::now() + d);
                        admin_down = true;
                        vec![Event::ManualStop(notification)]
                    }
                    Some(PeerCommand::Start) => { restart_at = None; admin_down = false; vec![Event::ManualStart] }
                    Some(PeerCommand::Disconnect) => {
                        close(&mut conn).await;
                        return;
                    }
                },
                result = read_some(&mut conn) => match result {
                    Ok(()) => {
                        // One message at a time: decoding depends on what the previous
                        // message negotiated (an UPDATE may share a segment with the
                        // KEEPALIVE that completed the OPEN exchange), and actions are
                        // carried out in order so the core sees session-up before routes.
                        while let Some(c) = conn.as_mut() {
                            let Some((event, treat_as_withdraw, used)) = next_event(&c.buf[c.start..], &rx_ctx) else {
                                c.buf.drain(..c.start);
                                c.start = 0;
                                break;
                            };
                            c.start += used;
                            for action in fsm.handle(event) {
                                if let Action::Deliver(Message::Update(update)) = action {
                                    self.status.updates_in.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                    let update = Box::new(update);
                                    let _ = self.core.send(CoreEvent::Update { peer: self.id, update, treat_as_withdraw }).await;
                                } else {
                                    self.act(action, &mut conn, &mut connecting, &mut timers, &mut rx_ctx, &fsm).await;
                                }
                            }
                            self.status.set_state(fsm.state());
                            if fsm.state() == State::Idle {
                                close(&mut conn).await;
                                break;
                            }
                        }
                        continue;
                    }
                    Err(e) => {
                        debug!(client = %self.client.name, error = %e, "connection closed");
                        vec![Event::TcpConnectionFails]
                    }
                },
                result = async { connecting.as_mut().expect("guarded").await }, if connecting.is_some() => {
                    connecting = None;
                    let event = match result {
                        Ok(stream) => match self.attach(stream, &mut conn) {
                            Ok(()) => Event::TcpConnectionConfirmed,
                            Err(_) => Event::TcpConnectionFails,
                        },
                        Err(e) => {
                            debug!(client = %self.client.name, error = %e, "connect failed");
                            Event::TcpConnectionFails
                        }
                    };
                    vec![event]
                }
                _ = sleep_until(next_timer), if next_timer.is_some() => {
                    let now = Instant::now();
                    let Some(i) = timers.iter().position(|t| matches!(t, Some(d) if *d <= now)) else { continue };
                    timers[i] = None;
                    vec![match i {
                        0 => Event::ConnectRetryTimerExpires,
                        1 => Event::HoldTimerExpires,
                        _ => Event::KeepaliveTimerExpires,
                    }]
                }
                _ = sleep_until(restart_at), if restart_at.is_some() => {
                    restart_at = None;
                    admin_down = false;
                    info!(client = %self.client.name, "restarting session after max-prefix hold-down");
                    vec![Event::ManualStart]
                }
            };
            for event in events {
                // Actions are carried out in order at the top of the loop; an event's
                // actions never depend on carrying out the previous event's first.
                pending.extend(fsm.handle(event));
            }
            self.status.set_state(fsm.state());
        }
    }

    async fn act(
        &self,
        action: Action,
        conn: &mut Option<Connection>,
        connecting: &mut Option<ConnectFuture>,
        timers: &mut [Option<Instant>; 3],
        rx_ctx: &mut CodecContext,
        fsm: &Fsm,
    ) {
        match action {
            Action::Connect => {
                if conn.is_none() && connecting.is_none() {
                    *connecting = Some(Box::pin(connect(self.remote_addr(), self.local_bind)));
                }
            }
            Action::Send(message) => {
                if let Message::Notification(n) = &message {
                    warn!(client = %self.client.name, notification = %n.describe(), "NOTIFICATION sent");
                }
                let ctx = fsm.negotiated().map(|n| n.tx_codec()).unwrap_or_default();
                let mut bytes = Vec::new();
                match encode_message(&message, &ctx, &mut bytes) {
                    Ok(()) => {
                        if let Some(c) = conn.as_ref() {
                            let _ = c.writer.send(WriterCommand::Send(bytes)).await;
                        }
                    }
                    Err(e) => warn!(client = %self.client.name, error = %e, "cannot encode message"),
                }
            }
            Action::CloseConnection => close(conn).await,
            Action::StartTimer(timer, after) => timers[timer_index(timer)] = Some(Instant::now() + after),
            Action::StopTimer(timer) => timers[timer_index(timer)] = None,
            Action::SessionEstablished(negotiated) => {
                *rx_ctx = negotiated.rx_codec();
                let address = conn
                    .as_ref()
                    .map(|c| c.remote.ip())
                    .unwrap_or(IpAddr::from([0, 0, 0, 0]));
                info!(
                    client = %self.client.name, asn = negotiated.peer_asn, %address,
                    hold_time = negotiated.hold_time, families = ?negotiated.families,
                    "session established"
                );
                if let Some(c) = conn.as_ref() {
                    let _ = c
                        .writer
                        .send(WriterCommand::StartRoutes(negotiated.tx_codec()))
                        .await;
                }
                self.status.established(capability_summary(&negotiated));
                let _ = self
                    .core
                    .send(CoreEvent::Established {
                        peer: self.id,
                        address,
                        negotiated,
                    })
                    .await;
            }
            Action::Deliver(message) => {
                // UPDATEs are forwarded where they are decoded; ROUTE-REFRESH is answered
                // by resending the table (the core keeps no Adj-RIB-Out to diff against).
                if let Message::RouteRefresh(rr) = message {
                    debug!(client = %self.client.name, ?rr, "ROUTE-REFRESH received");
                    let _ = self
                        .core
                        .send(CoreEvent::RouteRefresh {
                            peer: self.id,
                            family: rr.afi_safi,
                        })
                        .await;
                }
            }
            Action::SessionDown(reason) => {
                *rx_ctx = CodecContext::default();
                self.status.down(reason.to_string());
                match &reason {
                    DownReason::NotificationReceived(n) => {
                        warn!(client = %self.client.name, notification = %n.describe(), "session down: NOTIFICATION received")
                    }
                    other => warn!(client = %self.client.name, reason = ?other, "session down"),
                }
                let _ = self
                    .core
                    .send(CoreEvent::Down {
                        peer: self.id,
                        reason,
                    })
                    .await;
            }
        }
    }

    /// A connection from this client's address arrived (RFC 4271 §6.8 collisions).
    ///
    /// One FSM per client: a route server is passive towards almost all of its
    /// clients, so a second connection means the client gave up on the first
    /// (it restarted, or the old TCP session is half-open) rather than a
    /// simultaneous open. Returns the events to feed the FSM.
    async fn incoming(
        &self,
        stream: TcpStream,
        conn: &mut Option<Connection>,
        fsm: &Fsm,
        admin_down: bool,
    ) -> Vec<Event> {
        let state = fsm.state();
        let refuse = match state {
            // Stopped by the operator or by max-prefix: refuse until started.
            State::Idle if admin_down => Some(Notification::new(
                code::CEASE,
                cease::CONNECTION_REJECTED,
                Vec::new(),
            )),
            // An Established session keeps its connection unless the client
            // negotiated Graceful Restart: then a new connection means it restarted
            // and the old one is dead (RFC 4724 §4.2).
            State::Established if fsm.negotiated().is_none_or(|n| n.peer_graceful_restart.is_none()) => {
                Some(kumo_session::collision::collision_notification())
            }
            _ => None,
        };
        if let Some(notification) = refuse {
            debug!(client = %self.client.name, ?state, "refusing extra connection");
            refuse_connection(stream, notification).await;
            return Vec::new();
        }
        let mut events = Vec::new();
        if conn.is_some() {
            // The FSM first sees the old transport fail, then the new one arrive.
            close(conn).await;
            events.push(Event::TcpConnectionFails);
        }
        if self.attach(stream, conn).is_ok() {
            // A route server accepts a client's new connection even during the
            // idle hold after a failure: the client decides when to retry.
            events.push(Event::ManualStart);
            events.push(Event::TcpConnectionConfirmed);
        }
        events
    }

    fn attach(&self, stream: TcpStream, conn: &mut Option<Connection>) -> io::Result<()> {
        stream.set_nodelay(true)?;
        let remote = stream.peer_addr()?;
        let (reader, writer) = stream.into_split();
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(writer_task(
            writer,
            rx,
            self.outq.clone(),
            self.client.name.clone(),
            self.status.clone(),
        ));
        *conn = Some(Connection {
            reader,
            remote,
            writer: tx,
            buf: Vec::with_capacity(READ_CHUNK),
            start: 0,
        });
        Ok(())
    }

    fn remote_addr(&self) -> SocketAddr {
        let ip = self
            .client
            .ip
            .first()
            .copied()
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        SocketAddr::new(ip, self.client.port)
    }
}

fn timer_index(timer: Timer) -> usize {
    match timer {
        Timer::ConnectRetry => 0,
        Timer::Hold => 1,
        Timer::Keepalive => 2,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn read_some(conn: &mut Option<Connection>) -> io::Result<()> {
    let Some(c) = conn.as_mut() else {
        return std::future::pending().await;
    };
    c.buf.reserve(READ_CHUNK);
    let n = c.reader.read_buf(&mut c.buf).await?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed by peer",
        ));
    }
    Ok(())
}

/// Decode the message at the front of `buf`, if complete: the FSM event, whether
/// RFC 7606 says treat-as-withdraw, and how many bytes it used.
fn next_event(buf: &[u8], ctx: &CodecContext) -> Option<(Event, bool, usize)> {
    match frame(buf, ctx.max_message_len()) {
        Ok(None) => None,
        // After a framing error nothing that follows can be trusted: use it all.
        Err(notification) => Some((Event::MessageError(notification), false, buf.len())),
        Ok(Some(f)) => {
            let used = f.message.len();
            match decode_message(f.message, ctx) {
                Ok(decoded) => {
                    let treat_as_withdraw = decoded.treat_as_withdraw();
                    for e in &decoded.errors {
                        warn!(attribute = e.type_code, action = ?e.action, reason = %e.reason, "malformed attribute (RFC 7606)");
                    }
                    if let Message::Notification(n) = &decoded.message {
                        warn!(notification = %n.describe(), "NOTIFICATION received");
                    }
                    Some((Event::MessageReceived(decoded.message), treat_as_withdraw, used))
                }
                Err(notification) => Some((Event::MessageError(notification), false, used)),
            }
        }
    }
}

async fn close(conn: &mut Option<Connection>) {
    if let Some(c) = conn.take() {
        let _ = c.writer.send(WriterCommand::Close).await;
    }
}

async fn connect(remote: SocketAddr, local: Option<IpAddr>) -> io::Result<TcpStream> {
    let socket = if remote.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = local.filter(|ip| ip.is_ipv4() == remote.is_ipv4()) {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    tokio::time::timeout(Duration::from_secs(10), socket.connect(remote))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))?
}

/// Send a NOTIFICATION on a connection we do not want, then close it.
pub async fn refuse_connection(mut stream: TcpStream, notification: Notification) {
    let mut bytes = Vec::new();
    if encode_message(
        &Message::Notification(notification),
        &CodecContext::default(),
        &mut bytes,
    )
    .is_ok()
    {
        let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&bytes)).await;
    }
    let _ = stream.shutdown().await;
}

/// Writes control messages and, once Established, the client's routes.
async fn writer_task(
    mut writer: OwnedWriteHalf,
    mut commands: mpsc::Receiver<WriterCommand>,
    outq: Arc<OutQueue>,
    name: String,
    status: Arc<SessionStatus>,
) {
    let mut tx_ctx: Option<CodecContext> = None;
    let mut bytes = Vec::new();
    loop {
        bytes.clear();
        tokio::select! {
            biased;
            cmd = commands.recv() => match cmd {
                Some(WriterCommand::Send(b)) => bytes = b,
                Some(WriterCommand::StartRoutes(ctx)) => { tx_ctx = Some(ctx); continue }
                Some(WriterCommand::Close) | None => {
                    let _ = writer.shutdown().await;
                    return;
                }
            },
            batch = outq.next_batch(), if tx_ctx.is_some() => {
                let Some(ctx) = tx_ctx.as_ref() else { continue };
                if let Err(e) = encode_batch(batch, ctx, &mut bytes) {
                    warn!(client = %name, error = %e, "cannot encode UPDATE");
                    continue;
                }
                status.updates_out.fetch_add(count_messages(&bytes), std::sync::atomic::Ordering::Relaxed);
            }
        }
        if let Err(e) = writer.write_all(&bytes).await {
            debug!(client = %name, error = %e, "write failed");
            // The reader sees the failure too and drives the FSM; drain commands until closed.
            while let Some(cmd) = commands.recv().await {
                if matches!(cmd, WriterCommand::Close) {
                    return;
                }
            }
            return;
        }
    }
}

/// Encode a batch: withdrawals per family, announcements grouped by shared
/// attribute set (one attribute encoding for many prefixes), then End-of-RIB.
fn encode_batch(batch: Batch, ctx: &CodecContext, out: &mut Vec<u8>) -> Result<(), kumo_wire::EncodeError> {
    use std::collections::HashMap;
    let packer = UpdatePacker::new(ctx);
    let mut withdrawn: HashMap<AfiSafi, Vec<kumo_wire::Nlri>> = HashMap::new();
    let mut groups: HashMap<
        *const kumo_rib::RouteAttrs,
        (kumo_rib::Attrs, HashMap<AfiSafi, Vec<kumo_wire::Nlri>>),
    > = HashMap::new();
    for (nlri, attrs) in batch.routes {
        let family = family_of(&nlri);
        match attrs {
            None => withdrawn.entry(family).or_default().push(nlri),
            Some(attrs) => {
                let key = Arc::as_ptr(&attrs);
                groups
                    .entry(key)
                    .or_insert_with(|| (attrs, HashMap::new()))
                    .1
                    .entry(family)
                    .or_default()
                    .push(nlri)
            }
        }
    }
    for (family, nlri) in &withdrawn {
        packer.withdraw(*family, nlri, out)?;
    }
    for (attrs, families) in groups.values() {
        for (family, nlri) in families {
            packer.announce(&attrs.attrs, *family, attrs.mp_next_hop, nlri, out)?;
        }
    }
    for family in batch.end_of_rib {
        packer.end_of_rib(family, out);
    }
    Ok(())
}

/// How many BGP messages a buffer of whole messages holds (walks the length fields).
fn count_messages(mut bytes: &[u8]) -> u64 {
    let mut n = 0;
    while bytes.len() >= kumo_wire::HEADER_LEN {
        let len = usize::from(u16::from_be_bytes([bytes[16], bytes[17]])).max(kumo_wire::HEADER_LEN);
        bytes = bytes.get(len..).unwrap_or_default();
        n += 1;
    }
    n
}

pub fn family_of(nlri: &kumo_wire::Nlri) -> AfiSafi {
    match nlri.prefix {
        ipnet::IpNet::V4(_) => AfiSafi::IPV4_UNICAST,
        ipnet::IpNet::V6(_) => AfiSafi::IPV6_UNICAST,
    }
}
