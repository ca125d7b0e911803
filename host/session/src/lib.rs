//! kumo-session: the BGP session finite state machine (RFC 4271 §8), pure:
//! events in, actions out. No sockets, no clock, no async: the driver owns the
//! TCP connection and the timers, feeds [`Event`]s to [`Fsm::handle`] and
//! carries out the returned [`Action`]s in order.
//!
//! Module map:
//! - [`config`]: [`SessionConfig`] and the capabilities kumo offers ([`LocalCapabilities`]).
//! - [`fsm`]: [`Fsm`], its [`State`]s, [`Event`]s, [`Action`]s and timers; the idle hold (restart damping).
//! - [`negotiate`]: the OPEN kumo sends, validation of the peer's OPEN, and the
//!   [`Negotiated`] session parameters (hold time, families, ADD-PATH, GR, codec contexts).
//! - [`collision`]: connection collision resolution (RFC 4271 §6.8) for the driver.

pub mod collision;
pub mod config;
pub mod fsm;
pub mod negotiate;

pub use collision::{IncomingConnection, Initiator, Speaker, incoming_connection, surviving_connection};
pub use config::{ConfigError, GracefulRestartOffer, LocalCapabilities, SessionConfig};
pub use fsm::{Action, DownReason, Event, Fsm, State, Timer};
pub use negotiate::{Negotiated, OpenError, PeerGracefulRestart, local_open, validate_open};
