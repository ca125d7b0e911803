//! The contract between the HTTP server and the daemon.
//!
//! The daemon implements [`AdminBackend`]; the server never sees the RIB or the
//! policy engine, only DTOs. Methods return `impl Future + Send` (return-position
//! `impl Trait` in traits) so the daemon can implement them with plain
//! `async fn` and no `async_trait` boxing. Inputs are validated by the server
//! before a backend method is called (names, prefixes, communities, window
//! lengths, message length), so a backend sees only well-formed requests; it
//! still owns the semantic checks (unknown client → `NotFound`, module does
//! not compile → `BadRequest`, ...).
//!
//! Mutations must be all-or-nothing: a backend that returns an error must
//! leave its state as it was.

use std::future::Future;

use bytes::Bytes;

use crate::dto::{
    Client, DryRun, Hold, OriginateRequest, OriginateResult, Policy, PolicySwap, Prefix, PrefixRoutes,
    Readiness, ReloadReport, RouteQuery, RoutesPage, Status, WithdrawRequest,
};
use crate::metrics::Metrics;

/// An error a backend reports; the server maps it to an HTTP status and a
/// JSON body `{"error": "<message>"}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// 404: no such client, policy, prefix or originated route.
    #[error("{0}")]
    NotFound(String),
    /// 400: the request is well-formed but unacceptable (e.g. the module
    /// does not compile or has the wrong world).
    #[error("{0}")]
    BadRequest(String),
    /// 409: the request conflicts with the current state (e.g. rollback
    /// without a previous module, enabling a client that is not disabled).
    #[error("{0}")]
    Conflict(String),
    /// 503: the daemon cannot answer right now (e.g. still starting, core busy
    /// shutting down).
    #[error("{0}")]
    Unavailable(String),
    /// 500: anything else; the message is shown to the operator.
    #[error("{0}")]
    Internal(String),
}

impl AdminError {
    /// The HTTP status code this error maps to.
    pub fn status_code(&self) -> u16 {
        match self {
            AdminError::NotFound(_) => 404,
            AdminError::BadRequest(_) => 400,
            AdminError::Conflict(_) => 409,
            AdminError::Unavailable(_) => 503,
            AdminError::Internal(_) => 500,
        }
    }
}

/// Result of a backend operation.
pub type AdminResult<T> = Result<T, AdminError>;

/// What the daemon provides to the admin API. One method per operation.
pub trait AdminBackend: Send + Sync + 'static {
    /// `GET /api/v1/status`, and birdwatcher `/status`.
    fn status(&self) -> impl Future<Output = AdminResult<Status>> + Send;

    /// `GET /api/v1/clients`, and birdwatcher `/protocols/bgp`.
    fn clients(&self) -> impl Future<Output = AdminResult<Vec<Client>>> + Send;

    /// `GET /api/v1/clients/{name}`.
    fn client(&self, name: &str) -> impl Future<Output = AdminResult<Client>> + Send;

    /// `GET /api/v1/clients/{name}/routes?view=..&offset=..&limit=..`, and the
    /// birdwatcher route endpoints (with `limit: None`).
    fn client_routes(
        &self,
        name: &str,
        query: RouteQuery,
    ) -> impl Future<Output = AdminResult<RoutesPage>> + Send;

    /// `GET /api/v1/routes/{prefix}`: every path for the prefix and, per
    /// client, whether it was exported and which policy decided.
    /// Routes kumo originates (`POST /api/v1/routes`) are paths too, with
    /// `from_client` = `kumo`. An unknown prefix is `NotFound`.
    fn prefix_routes(&self, prefix: Prefix) -> impl Future<Output = AdminResult<PrefixRoutes>> + Send;

    /// `GET /api/v1/policies`.
    fn policies(&self) -> impl Future<Output = AdminResult<Vec<Policy>>> + Send;

    /// `PUT /api/v1/policies/{name}`: compile, validate, swap in, re-evaluate.
    /// A module that fails is `BadRequest` and the old one stays.
    fn policy_replace(
        &self,
        name: &str,
        module: Bytes,
    ) -> impl Future<Output = AdminResult<PolicySwap>> + Send;

    /// `POST /api/v1/policies/{name}/dry-run`: the same diff, nothing swapped.
    fn policy_dry_run(&self, name: &str, module: Bytes) -> impl Future<Output = AdminResult<DryRun>> + Send;

    /// `POST /api/v1/policies/{name}/rollback`: back to the previous module
    /// (`Conflict` if there is none).
    fn policy_rollback(&self, name: &str) -> impl Future<Output = AdminResult<PolicySwap>> + Send;

    /// `POST /api/v1/reload`: re-read the configuration file.
    fn reload(&self) -> impl Future<Output = AdminResult<ReloadReport>> + Send;

    /// `POST /api/v1/clients/{name}/hold`: declare a maintenance window of
    /// `seconds` (1..=[`crate::dto::MAX_HOLD_SECONDS`], checked by the server).
    fn hold_declare(&self, name: &str, seconds: u32) -> impl Future<Output = AdminResult<Hold>> + Send;

    /// `DELETE /api/v1/clients/{name}/hold`: cancel the window (and release
    /// routes being held now, which are then withdrawn).
    fn hold_cancel(&self, name: &str) -> impl Future<Output = AdminResult<Hold>> + Send;

    /// `POST /api/v1/clients/{name}/shutdown`: send NOTIFICATION Cease /
    /// Administrative Shutdown (RFC 8203) with the optional message (at most
    /// 255 octets, checked by the server) and keep the session down.
    fn client_shutdown(
        &self,
        name: &str,
        message: Option<String>,
    ) -> impl Future<Output = AdminResult<Client>> + Send;

    /// `POST /api/v1/clients/{name}/enable`: allow the session again.
    fn client_enable(&self, name: &str) -> impl Future<Output = AdminResult<Client>> + Send;

    /// `POST /api/v1/routes`: originate a route from kumo itself (replaces an
    /// earlier one for the same prefix).
    fn route_originate(
        &self,
        route: OriginateRequest,
    ) -> impl Future<Output = AdminResult<OriginateResult>> + Send;

    /// `DELETE /api/v1/routes`: withdraw a route kumo originated
    /// (`NotFound` if there is none).
    fn route_withdraw(
        &self,
        route: WithdrawRequest,
    ) -> impl Future<Output = AdminResult<OriginateResult>> + Send;

    /// `GET /readyz`: config parsed, policies instantiated, data loaded, BGP
    /// listener bound.
    fn readiness(&self) -> impl Future<Output = Readiness> + Send;

    /// Called before each `/metrics` scrape so the daemon can set gauges that
    /// are cheaper to read on demand than to keep current (prefix counts,
    /// held routes). Counters and histograms are better updated as events
    /// happen through the [`Metrics`] handles.
    fn refresh_metrics(&self, metrics: &Metrics) -> impl Future<Output = ()> + Send {
        let _ = metrics;
        async {}
    }
}
