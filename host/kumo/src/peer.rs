//! The tokio driver of one client's BGP session.
//!
//! The FSM ([`kumo_session::Fsm`]) decides; this task owns the socket and the
//! timers and carries the FSM's actions out. Reading and deciding happen here;
//! writing happens in a separate writer task so that a client that stops
//! reading can never block this task (its hold timer still runs) or the core.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use kumo_config::Client;
use kumo_rib::PeerId;
use kumo_session::{Action, DownReason, Event, Fsm, SessionConfig, State, Timer};
use kumo_wire::{
    AfiSafi, CodecContext, Message, Notification, decode_message, encode_message, frame,
    notification::{cease, code},
};
use smallvec::SmallVec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::core::{CoreEvent, UpdateGate};
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
    /// When the core has room for more UPDATEs.
    pub gate: Arc<UpdateGate>,
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

/// Room made for each read of the socket. A session's buffer is released
/// whenever every octet in it has been decoded (see `decode_buffered`), so a
/// quiet session holds none: with 64 KiB kept per session (it grew to 128 KiB
/// around a partial message), 50 sessions held 6.5 MB at P1's peak and
/// 1,000 would hold 128 MB (BENCHMARKS.md, session 8). Larger reads save
/// nothing measurable: a read of 16 KiB costs far less than decoding it.
const READ_CHUNK: usize = 16 * 1024;

/// UPDATEs decoded and waiting for room in the core's channel. When this many
/// wait, the task stops reading the socket (TCP pushes back on the client) but
/// keeps running its timers: a busy core never stops KEEPALIVEs going out,
/// and never makes the client look silent (see the hold timer below).
const MAX_TO_CORE: usize = 32;

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
        let mut to_core: VecDeque<CoreEvent> = VecDeque::new();

        loop {
            // Carry out what the FSM decided.
            for action in pending.drain(..) {
                self.act(
                    action,
                    &mut conn,
                    &mut connecting,
                    &mut timers,
                    &mut rx_ctx,
                    &fsm,
                    &mut to_core,
                )
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
                result = read_some(&mut conn), if to_core.len() < MAX_TO_CORE => match result {
                    Ok(()) => {
                        self.decode_buffered(&mut conn, &mut connecting, &mut timers, &mut rx_ctx, &mut fsm, &mut to_core)
                            .await;
                        continue;
                    }
                    Err(e) => {
                        debug!(client = %self.client.name, error = %e, "connection closed");
                        vec![Event::TcpConnectionFails]
                    }
                },
                permit = async { self.gate.wait_open().await; self.core.reserve().await }, if !to_core.is_empty() => {
                    match permit {
                        Ok(permit) => {
                            if let Some(event) = to_core.pop_front() {
                                let _ = sending(&event, &self.gate);
                                permit.send(event);
                            }
                            send_ready(&self.core, &self.gate, &mut to_core);
                        }
                        Err(_) => to_core.clear(), // kumo is shutting down
                    }
                    // Room again: decode what is already buffered.
                    self.decode_buffered(&mut conn, &mut connecting, &mut timers, &mut rx_ctx, &mut fsm, &mut to_core)
                        .await;
                    continue;
                }
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
                    // The client is not silent if what it sent is still waiting
                    // here, behind a busy core: that is kumo's delay, not a dead
                    // peer (RFC 4271 restarts the hold timer on every UPDATE or
                    // KEEPALIVE received). Expire only once kumo has caught up.
                    let backlog = !to_core.is_empty() || conn.as_ref().is_some_and(|c| c.start < c.buf.len());
                    if i == 1 && backlog && let Some(hold) = fsm.negotiated().map(|n| n.hold_time).filter(|h| *h > 0) {
                        timers[1] = Some(now + Duration::from_secs(u64::from(hold)));
                        continue;
                    }
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

    // The session's state is run()'s locals, lent to each step.
    #[allow(clippy::too_many_arguments)]
    async fn act(
        &self,
        action: Action,
        conn: &mut Option<Connection>,
        connecting: &mut Option<ConnectFuture>,
        timers: &mut [Option<Instant>; 3],
        rx_ctx: &mut CodecContext,
        fsm: &Fsm,
        to_core: &mut VecDeque<CoreEvent>,
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
                flush_to_core(&self.core, &self.gate, to_core).await;
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
                    flush_to_core(&self.core, &self.gate, to_core).await;
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
                // The core sees the session's UPDATEs before its end.
                flush_to_core(&self.core, &self.gate, to_core).await;
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

    /// Decode the complete messages in the buffer and feed them to the FSM,
    /// until the buffer holds no complete message or [`MAX_TO_CORE`] UPDATEs
    /// wait for the core.
    async fn decode_buffered(
        &self,
        conn: &mut Option<Connection>,
        connecting: &mut Option<ConnectFuture>,
        timers: &mut [Option<Instant>; 3],
        rx_ctx: &mut CodecContext,
        fsm: &mut Fsm,
        to_core: &mut VecDeque<CoreEvent>,
    ) {
        // One message at a time: decoding depends on what the previous
        // message negotiated (an UPDATE may share a segment with the
        // KEEPALIVE that completed the OPEN exchange), and actions are
        // carried out in order so the core sees session-up before routes.
        while to_core.len() < MAX_TO_CORE
            && let Some(c) = conn.as_mut()
        {
            let Some((event, treat_as_withdraw, used)) = next_event(&c.buf[c.start..], rx_ctx) else {
                if c.start == c.buf.len() {
                    // Everything decoded: give the buffer back (the next read
                    // takes a fresh one, from the allocator's thread cache).
                    c.buf = Vec::new();
                } else {
                    c.buf.drain(..c.start);
                }
                c.start = 0;
                break;
            };
            c.start += used;
            for action in fsm.handle(event) {
                if let Action::Deliver(Message::Update(update)) = action {
                    self.status
                        .updates_in
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    to_core.push_back(CoreEvent::Update {
                        peer: self.id,
                        update,
                        treat_as_withdraw,
                    });
                } else {
                    self.act(action, conn, connecting, timers, rx_ctx, fsm, to_core)
                        .await;
                }
            }
            send_ready(&self.core, &self.gate, to_core);
            self.status.set_state(fsm.state());
            if fsm.state() == State::Idle {
                close(conn).await;
                break;
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
            buf: Vec::new(),
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

/// Count an UPDATE handed to the core at the gate; whether it was one.
fn sending(event: &CoreEvent, gate: &UpdateGate) -> bool {
    let update = event.is_update();
    if update {
        gate.sent();
    }
    update
}

/// Hand the core the UPDATEs it has room for now (while the gate is open
/// and its channel has room), in order.
fn send_ready(core: &mpsc::Sender<CoreEvent>, gate: &UpdateGate, to_core: &mut VecDeque<CoreEvent>) {
    while gate.is_open()
        && let Some(event) = to_core.pop_front()
    {
        // Counted before it is sent: the core may take it (and count it
        // taken) before `try_send` returns here.
        let update = sending(&event, gate);
        match core.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(event)) => {
                if update {
                    gate.taken();
                }
                to_core.push_front(event);
                return;
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                to_core.clear(); // kumo is shutting down
                return;
            }
        }
    }
}

/// Hand the core every waiting UPDATE, waiting for room in its channel but
/// not for the gate: before a session event, which the core must see after
/// the session's UPDATEs.
async fn flush_to_core(core: &mpsc::Sender<CoreEvent>, gate: &UpdateGate, to_core: &mut VecDeque<CoreEvent>) {
    while let Some(event) = to_core.pop_front() {
        let _ = sending(&event, gate);
        if core.send(event).await.is_err() {
            to_core.clear();
            return;
        }
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

/// Bytes of shared segments' UPDATEs the writer gathers into one vectored
/// write: how often control messages (KEEPALIVE) get a turn during a long
/// batch.
const WRITE_CHUNK: usize = 256 * 1024;

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
        let result = tokio::select! {
            biased;
            cmd = commands.recv() => match cmd {
                Some(WriterCommand::Send(b)) => write_tracked(&mut writer, &b, &outq).await,
                Some(WriterCommand::StartRoutes(ctx)) => { tx_ctx = Some(ctx); continue }
                Some(WriterCommand::Close) | None => {
                    let _ = writer.shutdown().await;
                    return;
                }
            },
            batch = outq.next_batch(), if tx_ctx.is_some() => {
                let Some(ctx) = tx_ctx.clone() else { continue };
                let flow = write_batch(batch, &ctx, &mut bytes, &mut writer, &mut commands, &outq, &status).await;
                if outq.is_empty() {
                    // Idle: give the encoding buffer back (up to a chunk and a
                    // segment per client; measured with 1,000 idle clients,
                    // hundreds of MB kept for nothing).
                    bytes = Vec::new();
                }
                match flow {
                    Ok(WriterFlow::Continue) => Ok(()),
                    Ok(WriterFlow::Closed) => return,
                    Ok(WriterFlow::Skipped(e)) => {
                        warn!(client = %name, error = %e, "cannot encode some routes for this client: withdrawn from it instead");
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(e) = result {
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

enum WriterFlow {
    Continue,
    /// A Close command arrived in the middle of a batch: the connection is shut.
    Closed,
    /// Written, but routes that could not be encoded were withdrawn instead
    /// (the first error).
    Skipped(kumo_wire::EncodeError),
}

impl WriterFlow {
    /// This flow, or [`WriterFlow::Skipped`] if routes were skipped and the
    /// connection is still open.
    fn skipped(self, skipped: Option<kumo_wire::EncodeError>) -> Self {
        match (self, skipped) {
            (WriterFlow::Continue, Some(e)) => WriterFlow::Skipped(e),
            (flow, _) => flow,
        }
    }
}

/// Write a batch in chunks of about [`WRITE_CHUNK`] bytes, sending control
/// messages that arrive meanwhile between chunks. Shared segments are
/// encoded once for all the clients they are queued for, and a client's
/// share is written from that shared encoding (vectored writes): a writer
/// copies none of it and, waiting for room in its client's socket, holds
/// none of it. (A coalesced queue's routes are encoded into the writer's own
/// buffer, and for a codec context other than the shared encoding's, the
/// client's own pieces into parts of their own.) Routes that cannot be
/// encoded for this client are withdrawn from it instead, the rest sent:
/// [`WriterFlow::Skipped`] (see [`crate::outqueue::encode_routes`]).
async fn write_batch(
    batch: Batch,
    ctx: &CodecContext,
    bytes: &mut Vec<u8>,
    writer: &mut OwnedWriteHalf,
    commands: &mut mpsc::Receiver<WriterCommand>,
    outq: &OutQueue,
    status: &SessionStatus,
) -> io::Result<WriterFlow> {
    // The first route that could not be encoded, if any: the rest is sent.
    let mut skipped: Option<kumo_wire::EncodeError> = None;
    {
        let mut parts: Vec<Cow<'_, [u8]>> = Vec::new();
        let (mut size, mut messages) = (0, 0);
        for share in &batch.shares {
            let segment = share.segment();
            // Whole pieces, at most a chunk per part: a flush between two
            // parts falls between UPDATEs.
            let ready: SmallVec<[(Cow<'_, [u8]>, u64); 4]> = match segment.shared_encoding(ctx) {
                Some(encoding) => {
                    if let Some(e) = share.failures(encoding).next() {
                        skipped.get_or_insert_with(|| e.clone());
                    }
                    share
                        .slices(encoding, WRITE_CHUNK)
                        .map(|(bytes, n)| (Cow::Borrowed(bytes), n))
                        .collect()
                }
                // Another codec context than the shared encoding's: this
                // client's pieces only, into parts of its own.
                None => {
                    let mut own = SmallVec::new();
                    let (mut part, mut n) = (Vec::new(), 0);
                    for i in share.piece_indices() {
                        let (m, piece_skipped) = segment.encode_piece(i, ctx, &mut part);
                        n += m;
                        if let Some(e) = piece_skipped {
                            skipped.get_or_insert(e);
                        }
                        if part.len() >= WRITE_CHUNK {
                            own.push((Cow::Owned(std::mem::take(&mut part)), std::mem::take(&mut n)));
                        }
                    }
                    if !part.is_empty() {
                        own.push((Cow::Owned(part), n));
                    }
                    own
                }
            };
            for (part, n) in ready {
                size += part.len();
                messages += n;
                parts.push(part);
                if size >= WRITE_CHUNK || parts.len() >= PARTS_MAX {
                    if let WriterFlow::Closed =
                        flush(&parts, messages, writer, commands, outq, status).await?
                    {
                        return Ok(WriterFlow::Closed);
                    }
                    parts.clear();
                    (size, messages) = (0, 0);
                }
            }
        }
        if !parts.is_empty()
            && let WriterFlow::Closed = flush(&parts, messages, writer, commands, outq, status).await?
        {
            return Ok(WriterFlow::Closed);
        }
    }
    drop(batch.shares);
    if batch.routes.is_empty() && batch.end_of_rib.is_empty() {
        let flow = flush(&[], 0, writer, commands, outq, status).await?;
        return Ok(flow.skipped(skipped));
    }
    if let Some(e) = crate::outqueue::encode_routes(
        batch.routes.iter().map(|(n, a)| (*n, a.as_ref())),
        &batch.end_of_rib,
        ctx,
        bytes,
    ) {
        skipped.get_or_insert(e);
    }
    let messages = crate::outqueue::count_messages(bytes);
    let flow = flush(
        &[Cow::Borrowed(&bytes[..])],
        messages,
        writer,
        commands,
        outq,
        status,
    )
    .await;
    bytes.clear();
    Ok(flow?.skipped(skipped))
}

/// Buffers gathered into one vectored write at most (Linux's IOV_MAX is 1024).
const PARTS_MAX: usize = 512;

/// Write `parts` (whole UPDATEs, `messages` of them), then any control
/// messages waiting.
async fn flush(
    parts: &[Cow<'_, [u8]>],
    messages: u64,
    writer: &mut OwnedWriteHalf,
    commands: &mut mpsc::Receiver<WriterCommand>,
    outq: &OutQueue,
    status: &SessionStatus,
) -> io::Result<WriterFlow> {
    if !parts.is_empty() {
        write_parts(writer, parts, outq).await?;
        status
            .updates_out
            .fetch_add(messages, std::sync::atomic::Ordering::Relaxed);
    }
    loop {
        match commands.try_recv() {
            Ok(WriterCommand::Send(b)) => write_tracked(writer, &b, outq).await?,
            // Only sent once, before any route; nothing to change mid-batch.
            Ok(WriterCommand::StartRoutes(_)) => {}
            Ok(WriterCommand::Close) | Err(mpsc::error::TryRecvError::Disconnected) => {
                let _ = writer.shutdown().await;
                return Ok(WriterFlow::Closed);
            }
            Err(mpsc::error::TryRecvError::Empty) => return Ok(WriterFlow::Continue),
        }
    }
}

/// Write all of `buf`, telling `outq` whether the client's socket has room
/// (a client that stops reading gets a coalesced queue).
async fn write_tracked(writer: &mut OwnedWriteHalf, buf: &[u8], outq: &OutQueue) -> io::Result<()> {
    write_parts(writer, &[Cow::Borrowed(buf)], outq).await
}

/// Write all of `parts`, in order, with vectored writes, telling `outq`
/// whether the client's socket has room.
async fn write_parts(
    writer: &mut OwnedWriteHalf,
    parts: &[Cow<'_, [u8]>],
    outq: &OutQueue,
) -> io::Result<()> {
    // Position: the first part not fully written, and how much of it is.
    let (mut part, mut offset) = (0, 0);
    let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(parts.len().min(PARTS_MAX));
    while part < parts.len() {
        slices.clear();
        slices.extend(
            parts[part..]
                .iter()
                .enumerate()
                .map(|(k, p)| IoSlice::new(if k == 0 { &p[offset..] } else { p }))
                .take(PARTS_MAX),
        );
        match writer.try_write_vectored(&slices) {
            Ok(0) if slices.iter().any(|s| !s.is_empty()) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                (part, offset) = advance(parts, (part, offset), n);
                outq.writer_progress();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                outq.writer_blocked();
                writer.writable().await?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The position in `parts` (first part not fully written, octets of it
/// written) after `n` more octets were written from `at`; parts with
/// nothing left are skipped.
fn advance(parts: &[Cow<'_, [u8]>], at: (usize, usize), mut n: usize) -> (usize, usize) {
    let (mut part, mut offset) = at;
    while let Some(p) = parts.get(part) {
        let left = p.len().saturating_sub(offset);
        if n < left {
            return (part, offset + n);
        }
        n -= left;
        part += 1;
        offset = 0;
    }
    (part, 0)
}

pub fn family_of(nlri: &kumo_wire::Nlri) -> AfiSafi {
    crate::outqueue::family_of(nlri)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn parts(texts: &[&'static str]) -> Vec<Cow<'static, [u8]>> {
        texts.iter().map(|t| Cow::Borrowed(t.as_bytes())).collect()
    }

    #[test]
    fn advance_moves_through_parts_and_skips_empty_ones() {
        let p = parts(&["abc", "", "de"]);
        assert_eq!(advance(&p, (0, 0), 2), (0, 2));
        assert_eq!(advance(&p, (0, 2), 1), (2, 0));
        assert_eq!(advance(&p, (0, 1), 3), (2, 1));
        assert_eq!(advance(&p, (0, 0), 5), (3, 0));
        assert_eq!(advance(&p, (2, 1), 1), (3, 0));
    }

    #[tokio::test]
    async fn write_parts_delivers_every_octet_in_order_through_a_full_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (mut reader, _keep) = accepted.unwrap().0.into_split();
        let (_, mut writer) = client.unwrap().into_split();
        // 20,000 parts of 0..=997 octets (~10 MB: the socket fills, so
        // writes are partial and wait for room), some of them empty.
        let owned: Vec<Vec<u8>> = (0..20_000u32)
            .map(|i| (0..(i * 7919) % 998).map(|k| (i + k) as u8).collect())
            .collect();
        let parts: Vec<Cow<'_, [u8]>> = owned.iter().map(|p| Cow::Borrowed(&p[..])).collect();
        let expected: Vec<u8> = owned.concat();
        let outq = OutQueue::new();
        let read = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = vec![0; 4096];
            loop {
                // Small reads, a turn for the writer between them: it meets
                // a full socket again and again.
                tokio::task::yield_now().await;
                match reader.read(&mut buf).await.unwrap() {
                    0 => return got,
                    n => got.extend_from_slice(&buf[..n]),
                }
            }
        });
        write_parts(&mut writer, &parts, &outq).await.unwrap();
        writer.shutdown().await.unwrap();
        drop(writer);
        let got = read.await.unwrap();
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "octets differ");
    }
}
