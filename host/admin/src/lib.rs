//! kumo's admin HTTP API.
//!
//! The daemon implements [`AdminBackend`] and runs an [`AdminServer`]; this
//! crate knows nothing of the RIB, sessions or the policy engine, only the
//! JSON documents exchanged with them.
//!
//! Module map:
//! - [`dto`]: the JSON documents (serde + JSON Schema) of every endpoint.
//! - [`backend`]: [`AdminBackend`], one async method per operation, and
//!   [`AdminError`] (NotFound 404, BadRequest 400, Conflict 409,
//!   Unavailable 503, Internal 500).
//! - [`server`]: [`AdminServer`] (hyper 1, HTTP/1.1) and [`AdminOptions`]:
//!   routing, bearer-token auth for mutations, body limits, JSON errors.
//! - [`router`]: the route table shared by the dispatcher and the OpenAPI
//!   document; path matching and percent-decoding.
//! - [`metrics`]: the Prometheus registry ([`Metrics`]) with per-client and
//!   per-policy handles.
//! - [`openapi`]: the OpenAPI 3.1 document at `/api/v1/openapi.json`.
//! - [`birdwatcher`]: the birdwatcher-compatible subset for Alice-LG.
//! - [`mock`]: an in-memory backend with a sample IX (tests, demos).
//! - `time`: RFC 3339 / BIRD-style timestamps ([`Timestamp`]).

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod backend;
pub mod birdwatcher;
pub mod dto;
pub mod metrics;
pub mod mock;
pub mod openapi;
pub mod router;
pub mod server;
mod time;

pub use backend::{AdminBackend, AdminError, AdminResult};
pub use metrics::{ClientMetrics, Metrics, PolicyMetrics, PrefixState, TrapKind};
pub use server::{AdminOptions, AdminServer, AdminServerError};
pub use time::Timestamp;
