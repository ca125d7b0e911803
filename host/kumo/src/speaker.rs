//! A minimal BGP speaker built on kumo's own codec, for the demo, the load
//! harness and tests that need to send exact bytes. Not a router: it opens a
//! session, sends what it is told and records what it receives.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use kumo_wire::{
    AddPathMode, AfiSafi, Capability, CodecContext, Message, MpNextHop, Nlri, Notification, Open,
    PathAttributes, UpdatePacker, decode_message, encode_message, frame,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Errors of the test speaker.
#[derive(Debug, thiserror::Error)]
pub enum SpeakerError {
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    #[error("peer sent NOTIFICATION {}", .0.describe())]
    Notification(Notification),
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("encode: {0}")]
    Encode(#[from] kumo_wire::EncodeError),
}

/// How the speaker presents itself.
#[derive(Debug, Clone)]
pub struct SpeakerConfig {
    pub local: IpAddr,
    pub asn: u32,
    pub router_id: Ipv4Addr,
    pub hold_time: u16,
    pub add_path_receive: bool,
    /// Announce the Graceful Restart capability with this restart time (both families).
    pub graceful_restart: Option<u16>,
}

impl SpeakerConfig {
    /// A speaker at `local` with AS `asn`, hold time 90, no optional capabilities.
    pub fn new(local: IpAddr, asn: u32, router_id: Ipv4Addr) -> Self {
        SpeakerConfig {
            local,
            asn,
            router_id,
            hold_time: 90,
            add_path_receive: false,
            graceful_restart: None,
        }
    }
}

/// One established session to a BGP speaker (kumo).
#[derive(Debug)]
pub struct Speaker {
    stream: TcpStream,
    buf: Vec<u8>,
    rx: CodecContext,
    tx: CodecContext,
    /// Routes received and not withdrawn.
    pub rib: HashMap<Nlri, PathAttributes>,
    /// The MP_REACH_NLRI next hop of each route of `rib` that came in one.
    pub mp_next_hops: HashMap<Nlri, MpNextHop>,
    /// Families for which End-of-RIB was received.
    pub end_of_rib: Vec<AfiSafi>,
    /// UPDATE messages received (End-of-RIB markers included).
    pub updates_received: u64,
    /// While corked: what is sent, kept to go out in one write.
    corked: Option<Vec<u8>>,
}

impl Speaker {
    /// Connect from `config.local` to `remote` and complete the OPEN exchange.
    pub async fn connect(config: &SpeakerConfig, remote: SocketAddr) -> Result<Speaker, SpeakerError> {
        let socket = if remote.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.bind(SocketAddr::new(config.local, 0))?;
        let stream = socket.connect(remote).await?;
        stream.set_nodelay(true)?;
        let families = [AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST];
        let mut capabilities: Vec<Capability> =
            families.iter().map(|f| Capability::Multiprotocol(*f)).collect();
        capabilities.push(Capability::RouteRefresh);
        capabilities.push(Capability::FourOctetAs(config.asn));
        if let Some(restart_time) = config.graceful_restart {
            capabilities.push(Capability::GracefulRestart {
                restarting: false,
                notification: false,
                restart_time,
                afis: families
                    .iter()
                    .map(|f| kumo_wire::GracefulRestartAfi {
                        afi_safi: *f,
                        forwarding_preserved: true,
                    })
                    .collect(),
            });
        }
        if config.add_path_receive {
            capabilities.push(Capability::AddPath(
                families.iter().map(|f| (*f, AddPathMode::Receive)).collect(),
            ));
        }
        let open = Open {
            version: 4,
            my_as: u16::try_from(config.asn).unwrap_or(kumo_wire::AS_TRANS),
            hold_time: config.hold_time,
            bgp_id: config.router_id,
            capabilities,
        };
        let mut speaker = Speaker {
            stream,
            buf: Vec::new(),
            rx: CodecContext::default(),
            tx: CodecContext::default(),
            rib: HashMap::new(),
            mp_next_hops: HashMap::new(),
            end_of_rib: Vec::new(),
            updates_received: 0,
            corked: None,
        };
        speaker.send(&Message::Open(open)).await?;
        let peer_open = match speaker.recv_raw().await? {
            Message::Open(o) => o,
            other => return Err(SpeakerError::Protocol(format!("expected OPEN, got {other:?}"))),
        };
        let four_octet = peer_open
            .capabilities
            .iter()
            .any(|c| matches!(c, Capability::FourOctetAs(_)));
        let peer_sends_add_path = peer_open.capabilities.iter().any(|c| {
            matches!(c, Capability::AddPath(v) if v.iter().any(|(_, m)| matches!(m, AddPathMode::Send | AddPathMode::Both)))
        });
        speaker.rx.four_octet_as = four_octet;
        speaker.tx.four_octet_as = four_octet;
        if config.add_path_receive && peer_sends_add_path {
            speaker.rx.add_path = families.to_vec();
        }
        speaker.send(&Message::Keepalive).await?;
        match speaker.recv_raw().await? {
            Message::Keepalive => {}
            other => {
                return Err(SpeakerError::Protocol(format!(
                    "expected KEEPALIVE, got {other:?}"
                )));
            }
        }
        Ok(speaker)
    }

    pub async fn send(&mut self, message: &Message) -> Result<(), SpeakerError> {
        let mut bytes = Vec::new();
        encode_message(message, &self.tx, &mut bytes)?;
        self.send_raw(&bytes).await
    }

    /// Send bytes as they are (for malformed-input tests).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), SpeakerError> {
        match self.corked.as_mut() {
            Some(kept) => kept.extend_from_slice(bytes),
            None => self.stream.write_all(bytes).await?,
        }
        Ok(())
    }

    /// Keep what is sent from now on until [`Speaker::uncork`], which sends
    /// it in one write: messages that arrive together (and reach kumo's
    /// core as one burst).
    pub fn cork(&mut self) {
        self.corked.get_or_insert_with(Vec::new);
    }

    /// Send what was kept since [`Speaker::cork`] in one write.
    pub async fn uncork(&mut self) -> Result<(), SpeakerError> {
        if let Some(kept) = self.corked.take() {
            self.stream.write_all(&kept).await?;
        }
        Ok(())
    }

    /// Announce `prefixes` (one family) with `attrs`, packed into as few UPDATEs as fit.
    pub async fn announce(
        &mut self,
        attrs: &PathAttributes,
        mp_next_hop: Option<MpNextHop>,
        prefixes: &[IpNet],
    ) -> Result<(), SpeakerError> {
        let Some((family, nlri)) = one_family(prefixes) else {
            return Ok(());
        };
        let mut bytes = Vec::new();
        UpdatePacker::new(&self.tx).announce(attrs, family, mp_next_hop, &nlri, &mut bytes)?;
        self.send_raw(&bytes).await
    }

    /// Withdraw `prefixes` (one family).
    pub async fn withdraw(&mut self, prefixes: &[IpNet]) -> Result<(), SpeakerError> {
        let Some((family, nlri)) = one_family(prefixes) else {
            return Ok(());
        };
        let mut bytes = Vec::new();
        UpdatePacker::new(&self.tx).withdraw(family, &nlri, &mut bytes)?;
        self.send_raw(&bytes).await
    }

    /// Send End-of-RIB for `family`.
    pub async fn end_of_rib(&mut self, family: AfiSafi) -> Result<(), SpeakerError> {
        let mut bytes = Vec::new();
        UpdatePacker::new(&self.tx).end_of_rib(family, &mut bytes);
        self.send_raw(&bytes).await
    }

    /// Receive one message, answering nothing; UPDATEs are applied to [`Speaker::rib`].
    pub async fn recv(&mut self) -> Result<Message, SpeakerError> {
        let message = self.recv_raw().await?;
        if let Message::Update(update) = &message {
            if let Some(family) = update.end_of_rib() {
                self.end_of_rib.push(family);
            }
            for n in update
                .withdrawn
                .iter()
                .chain(update.mp_unreach.iter().flat_map(|u| u.nlri.iter()))
            {
                self.rib.remove(n);
                self.mp_next_hops.remove(n);
            }
            for n in &update.nlri {
                self.rib.insert(*n, update.attributes.clone());
            }
            if let Some(reach) = &update.mp_reach {
                for n in &reach.nlri {
                    self.rib.insert(*n, update.attributes.clone());
                    self.mp_next_hops.insert(*n, reach.next_hop);
                }
            }
        }
        Ok(message)
    }

    /// Receive until `done(self)` holds or `timeout` passes; answers KEEPALIVEs.
    pub async fn recv_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&Speaker) -> bool,
    ) -> Result<bool, SpeakerError> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !done(self) {
            match tokio::time::timeout_at(deadline, self.recv()).await {
                Err(_) => return Ok(false),
                Ok(Ok(Message::Keepalive)) => self.send(&Message::Keepalive).await?,
                Ok(Ok(Message::Notification(n))) => return Err(SpeakerError::Notification(n)),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e),
            }
        }
        Ok(true)
    }

    async fn recv_raw(&mut self) -> Result<Message, SpeakerError> {
        loop {
            let max = self.rx.max_message_len().max(kumo_wire::MAX_EXTENDED_MESSAGE_LEN);
            match frame(&self.buf, max) {
                Ok(Some(f)) => {
                    let len = f.message.len();
                    let decoded = decode_message(f.message, &self.rx).map_err(SpeakerError::Notification)?;
                    self.buf.drain(..len);
                    if let Message::Update(_) = decoded.message {
                        self.updates_received += 1;
                    }
                    if let Message::Notification(n) = decoded.message {
                        return Err(SpeakerError::Notification(n));
                    }
                    return Ok(decoded.message);
                }
                Ok(None) => {}
                Err(n) => return Err(SpeakerError::Protocol(format!("bad framing: {}", n.describe()))),
            }
            self.buf.reserve(64 * 1024);
            let n = self.stream.read_buf(&mut self.buf).await?;
            if n == 0 {
                return Err(SpeakerError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed",
                )));
            }
        }
    }
}

/// The family of `prefixes` (taken from the first; callers pass one family) and
/// the prefixes as NLRI without path ids; `None` when there are none.
fn one_family(prefixes: &[IpNet]) -> Option<(AfiSafi, Vec<Nlri>)> {
    let nlri: Vec<Nlri> = prefixes
        .iter()
        .map(|p| Nlri {
            prefix: *p,
            path_id: None,
        })
        .collect();
    Some((crate::peer::family_of(nlri.first()?), nlri))
}
