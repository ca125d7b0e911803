//! The HTTP server: hyper 1 over tokio, HTTP/1.1 only, no framework.
//!
//! Why no framework (axum): the API is ~30 fixed routes whose table must also
//! feed the OpenAPI document; a 60-line matcher over that table does it, and
//! the request path stays plain: match → authorise → read a bounded body →
//! validate → call the backend → JSON. Nothing is applied before the whole
//! request has been read and validated.
//!
//! Limits: at most [`MAX_CONNECTIONS`] connections at once (further ones wait
//! in the listen backlog), request headers must arrive within
//! [`HEADER_READ_TIMEOUT`] (slowloris), bodies within [`BODY_READ_TIMEOUT`] and
//! under [`AdminOptions::max_json_body`] / [`AdminOptions::max_body`] (413).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Body;
use hyper::header::{
    ACCEPT, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE,
};
use hyper::http::request::Parts;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::backend::{AdminBackend, AdminError};
use crate::birdwatcher as bw;
use crate::dto::{
    ClientList, ErrorBody, HoldRequest, Liveness, MAX_HOLD_SECONDS, MAX_SHUTDOWN_MESSAGE, OriginateRequest,
    PolicyList, Prefix, RouteQuery, RouteView, ShutdownRequest, WithdrawRequest,
};
use crate::metrics::{self, Metrics};
use crate::router::{Operation, RouteMatch, match_route, parse_query};
use crate::time::Timestamp;

/// Default page size of `GET /api/v1/clients/{name}/routes`.
pub const DEFAULT_ROUTES_LIMIT: u64 = 1000;
/// Largest page `limit` accepted.
pub const MAX_ROUTES_LIMIT: u64 = 100_000;
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 128;
/// Time allowed for a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for a request's body.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Time in-flight requests get to finish on shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The `[admin]` settings the daemon passes in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminOptions {
    pub listen: SocketAddr,
    /// Bearer token for mutations. `None` (or empty) refuses every mutation
    /// with 403.
    pub token: Option<String>,
    /// Largest policy module upload, bytes.
    pub max_body: usize,
    /// Largest JSON request body, bytes.
    pub max_json_body: usize,
}

impl Default for AdminOptions {
    fn default() -> Self {
        AdminOptions {
            listen: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8179)),
            token: None,
            max_body: 16 * 1024 * 1024,
            max_json_body: 64 * 1024,
        }
    }
}

/// The server could not start.
#[derive(Debug, thiserror::Error)]
pub enum AdminServerError {
    #[error("admin API cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
}

/// A response before it is written: status, body and the headers errors need.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
    allow: Option<String>,
    challenge: bool,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            allow: None,
            challenge: false,
        }
    }
    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        let status = StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError::new(status, e.to_string())
    }
}

type HttpResponse = Response<Full<Bytes>>;

struct Inner<B> {
    backend: Arc<B>,
    metrics: Arc<Metrics>,
    options: AdminOptions,
    token_digest: Option<[u8; 32]>,
    openapi: Bytes,
}

/// The admin HTTP server. Cheap to clone (one `Arc`).
pub struct AdminServer<B> {
    inner: Arc<Inner<B>>,
}

impl<B> Clone for AdminServer<B> {
    fn clone(&self) -> Self {
        AdminServer {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<B> std::fmt::Debug for AdminServer<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminServer")
            .field("listen", &self.inner.options.listen)
            .field("token_configured", &self.inner.token_digest.is_some())
            .finish_non_exhaustive()
    }
}

fn json_bytes<T: Serialize>(v: &T) -> Result<Bytes, ApiError> {
    serde_json::to_vec(v).map(Bytes::from).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode response: {e}"),
        )
    })
}

fn response(status: StatusCode, content_type: &'static str, body: Bytes) -> HttpResponse {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn json_response<T: Serialize>(status: StatusCode, v: &T) -> Result<HttpResponse, ApiError> {
    Ok(response(status, "application/json", json_bytes(v)?))
}

fn error_response(e: ApiError) -> HttpResponse {
    let body = serde_json::to_vec(&ErrorBody { error: e.message }).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = response(e.status, "application/json", Bytes::from(body));
    if let Some(allow) = e.allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
        r.headers_mut().insert(ALLOW, allow);
    }
    if e.challenge {
        r.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"kumo\""),
        );
    }
    r
}

/// Compares two digests without an early exit, so response time does not
/// tell how many leading bytes of a guessed token were right.
fn digests_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn media_type(parts: &Parts) -> Option<String> {
    let v = parts.headers.get(CONTENT_TYPE)?.to_str().ok()?;
    Some(v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

fn valid_policy_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn parse_prefix(s: &str) -> Result<Prefix, ApiError> {
    s.parse::<Prefix>().map_err(ApiError::bad_request)
}

fn param(params: &[String], i: usize) -> Result<&str, ApiError> {
    params.get(i).map(String::as_str).ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "route table and handler disagree",
        )
    })
}

impl<B: AdminBackend> AdminServer<B> {
    pub fn new(options: AdminOptions, backend: Arc<B>, metrics: Arc<Metrics>) -> Self {
        let token_digest = options
            .token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(|t| Sha256::digest(t.as_bytes()).into());
        let openapi = Bytes::from(serde_json::to_vec(&crate::openapi::document()).unwrap_or_default());
        AdminServer {
            inner: Arc::new(Inner {
                backend,
                metrics,
                options,
                token_digest,
                openapi,
            }),
        }
    }

    /// Binds `options.listen` and serves until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), AdminServerError> {
        let addr = self.inner.options.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| AdminServerError::Bind { addr, source })?;
        tracing::info!(%addr, "admin API listening");
        self.serve(listener, shutdown).await;
        Ok(())
    }

    /// Serves connections from `listener` until `shutdown` completes, then
    /// gives in-flight requests [`SHUTDOWN_GRACE`] to finish.
    pub async fn serve(self, listener: TcpListener, shutdown: impl Future<Output = ()> + Send) {
        let graceful = GracefulShutdown::new();
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                () = &mut shutdown => break,
                p = Arc::clone(&slots).acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let (stream, peer) = tokio::select! {
                () = &mut shutdown => break,
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "admin API accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let server = self.clone();
            let service = service_fn(move |req| {
                let server = server.clone();
                async move { Ok::<_, Infallible>(server.handle(req).await) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(%peer, error = %e, "admin API connection ended with an error");
                }
                drop(permit);
            });
        }
        drop(listener);
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("admin API: in-flight requests did not finish within the shutdown grace period");
        }
    }

    /// Handles one request. Public so tests (and an embedding daemon) can
    /// drive the API without a socket.
    pub async fn handle<Bd>(&self, req: Request<Bd>) -> HttpResponse
    where
        Bd: Body,
        Bd::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let (op, result) = match match_route(&method, &path) {
            RouteMatch::Found { operation, params } => {
                (Some(operation), self.dispatch(operation, params, req).await)
            }
            RouteMatch::MethodNotAllowed { allowed } => {
                let list: Vec<&str> = allowed.iter().map(Method::as_str).collect();
                let mut e = ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    format!("{method} is not allowed on {path}; use {}", list.join(", ")),
                );
                e.allow = Some(list.join(", "));
                (None, Err(e))
            }
            RouteMatch::NotFound => (
                None,
                Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("no such endpoint: {method} {path}"),
                )),
            ),
            RouteMatch::BadPath(msg) => (None, Err(ApiError::bad_request(msg))),
        };
        let resp = result.unwrap_or_else(error_response);
        let code = resp.status().as_u16();
        self.inner
            .metrics
            .admin_request(op.map_or("unmatched", Operation::id), code);
        if let Some(op) = op.filter(|op| op.is_mutation()) {
            tracing::info!(operation = op.id(), %path, status = code, "admin API mutation");
        }
        resp
    }

    fn authorise(&self, parts: &Parts) -> Result<(), ApiError> {
        let Some(expected) = &self.inner.token_digest else {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "mutations are disabled: configure `token` or `token_file` in the [admin] section",
            ));
        };
        let unauthorised = |msg: &str| {
            let mut e = ApiError::new(StatusCode::UNAUTHORIZED, msg);
            e.challenge = true;
            e
        };
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| unauthorised("this operation needs `Authorization: Bearer <token>`"))?;
        let value = header
            .to_str()
            .map_err(|_| unauthorised("malformed Authorization header"))?;
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => {
                return Err(unauthorised(
                    "the Authorization header must use the Bearer scheme",
                ));
            }
        };
        let got: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if digests_equal(&got, expected) {
            Ok(())
        } else {
            Err(unauthorised("wrong token"))
        }
    }

    async fn read_body<Bd>(&self, parts: &Parts, body: Bd, limit: usize) -> Result<Bytes, ApiError>
    where
        Bd: Body,
        Bd::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body exceeds the limit of {limit} bytes"),
            )
        };
        // Refuse early on a declared length so nothing is read at all.
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let collected = tokio::time::timeout(BODY_READ_TIMEOUT, Limited::new(body, limit).collect())
            .await
            .map_err(|_| ApiError::new(StatusCode::REQUEST_TIMEOUT, "request body not received in time"))?;
        match collected {
            Ok(c) => Ok(c.to_bytes()),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
            Err(e) => Err(ApiError::bad_request(format!("cannot read request body: {e}"))),
        }
    }

    async fn read_json<T: DeserializeOwned, Bd>(
        &self,
        parts: &Parts,
        body: Bd,
        empty_ok: bool,
    ) -> Result<Option<T>, ApiError>
    where
        Bd: Body,
        Bd::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        match media_type(parts).as_deref() {
            None | Some("application/json") => {}
            Some(other) => {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!("Content-Type {other} is not accepted; send application/json"),
                ));
            }
        }
        let bytes = self
            .read_body(parts, body, self.inner.options.max_json_body)
            .await?;
        if empty_ok && bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
        // serde would also build a struct from a JSON array; the API takes objects only.
        if !value.is_object() {
            return Err(ApiError::bad_request("invalid JSON body: expected a JSON object"));
        }
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }

    async fn read_module<Bd>(&self, parts: &Parts, body: Bd) -> Result<Bytes, ApiError>
    where
        Bd: Body,
        Bd::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        match media_type(parts).as_deref() {
            None | Some("application/wasm") | Some("application/octet-stream") => {}
            Some(other) => {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!("Content-Type {other} is not accepted; send application/wasm"),
                ));
            }
        }
        let bytes = self.read_body(parts, body, self.inner.options.max_body).await?;
        if !bytes.starts_with(b"\0asm") {
            return Err(ApiError::bad_request(
                "body is not a WebAssembly binary (no \\0asm magic)",
            ));
        }
        Ok(bytes)
    }

    fn route_query(query: Option<&str>) -> Result<RouteQuery, ApiError> {
        let mut q = RouteQuery {
            view: RouteView::Received,
            offset: 0,
            limit: Some(DEFAULT_ROUTES_LIMIT as usize),
        };
        for (k, v) in parse_query(query.unwrap_or("")).map_err(ApiError::bad_request)? {
            let number = |v: &str| {
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ApiError::bad_request(format!(
                        "{k} must be a non-negative integer"
                    )));
                }
                // Past u64 is past any table: saturate (an offset beyond the end is an empty page).
                Ok(v.parse::<u64>().unwrap_or(u64::MAX))
            };
            match k.as_str() {
                "view" => q.view = v.parse().map_err(ApiError::bad_request)?,
                "offset" => q.offset = usize::try_from(number(&v)?).unwrap_or(usize::MAX),
                "limit" => {
                    let n = number(&v)?;
                    if !(1..=MAX_ROUTES_LIMIT).contains(&n) {
                        return Err(ApiError::bad_request(format!(
                            "limit must be 1..={MAX_ROUTES_LIMIT}"
                        )));
                    }
                    q.limit = usize::try_from(n).ok();
                }
                other => {
                    return Err(ApiError::bad_request(format!(
                        "unknown query parameter {other:?}; expected view, offset, limit"
                    )));
                }
            }
        }
        Ok(q)
    }

    async fn dispatch<Bd>(
        &self,
        op: Operation,
        params: Vec<String>,
        req: Request<Bd>,
    ) -> Result<HttpResponse, ApiError>
    where
        Bd: Body,
        Bd::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = req.into_parts();
        if op.is_mutation() {
            self.authorise(&parts)?;
        }
        let backend = &*self.inner.backend;
        let ok = StatusCode::OK;
        let query = parts.uri.query();
        match op {
            Operation::Status => json_response(ok, &backend.status().await?),
            Operation::ClientList => json_response(
                ok,
                &ClientList {
                    clients: backend.clients().await?,
                },
            ),
            Operation::ClientGet => json_response(ok, &backend.client(param(&params, 0)?).await?),
            Operation::ClientRoutes => {
                let q = Self::route_query(query)?;
                json_response(ok, &backend.client_routes(param(&params, 0)?, q).await?)
            }
            Operation::PrefixRoutes => {
                let prefix = parse_prefix(param(&params, 0)?)?;
                json_response(ok, &backend.prefix_routes(prefix).await?)
            }
            Operation::PrefixRoutesSplit => {
                let prefix = parse_prefix(&format!("{}/{}", param(&params, 0)?, param(&params, 1)?))?;
                json_response(ok, &backend.prefix_routes(prefix).await?)
            }
            Operation::RouteOriginate => {
                let r: OriginateRequest = self
                    .read_json(&parts, body, false)
                    .await?
                    .ok_or_else(|| ApiError::bad_request("a JSON body is required"))?;
                json_response(ok, &backend.route_originate(r).await?)
            }
            Operation::RouteWithdraw => {
                let r: WithdrawRequest = self
                    .read_json(&parts, body, false)
                    .await?
                    .ok_or_else(|| ApiError::bad_request("a JSON body is required"))?;
                json_response(ok, &backend.route_withdraw(r).await?)
            }
            Operation::PolicyList => json_response(
                ok,
                &PolicyList {
                    policies: backend.policies().await?,
                },
            ),
            Operation::PolicyReplace | Operation::PolicyDryRun | Operation::PolicyRollback => {
                let name = param(&params, 0)?;
                if !valid_policy_name(name) {
                    return Err(ApiError::bad_request(format!(
                        "invalid policy name {name:?}: 1-64 characters of A-Z a-z 0-9 _ . -"
                    )));
                }
                match op {
                    Operation::PolicyReplace => {
                        let module = self.read_module(&parts, body).await?;
                        json_response(ok, &backend.policy_replace(name, module).await?)
                    }
                    Operation::PolicyDryRun => {
                        let module = self.read_module(&parts, body).await?;
                        json_response(ok, &backend.policy_dry_run(name, module).await?)
                    }
                    _ => json_response(ok, &backend.policy_rollback(name).await?),
                }
            }
            Operation::Reload => json_response(ok, &backend.reload().await?),
            Operation::HoldDeclare => {
                let r: HoldRequest = self
                    .read_json(&parts, body, false)
                    .await?
                    .ok_or_else(|| ApiError::bad_request("a JSON body {\"seconds\": N} is required"))?;
                if !(1..=MAX_HOLD_SECONDS).contains(&r.seconds) {
                    return Err(ApiError::bad_request(format!(
                        "seconds must be 1..={MAX_HOLD_SECONDS}"
                    )));
                }
                json_response(ok, &backend.hold_declare(param(&params, 0)?, r.seconds).await?)
            }
            Operation::HoldCancel => json_response(ok, &backend.hold_cancel(param(&params, 0)?).await?),
            Operation::ClientShutdown => {
                let r: ShutdownRequest = self.read_json(&parts, body, true).await?.unwrap_or_default();
                if r.message.as_ref().is_some_and(|m| m.len() > MAX_SHUTDOWN_MESSAGE) {
                    return Err(ApiError::bad_request(format!(
                        "message exceeds {MAX_SHUTDOWN_MESSAGE} octets (RFC 9003)"
                    )));
                }
                json_response(ok, &backend.client_shutdown(param(&params, 0)?, r.message).await?)
            }
            Operation::ClientEnable => json_response(ok, &backend.client_enable(param(&params, 0)?).await?),
            Operation::OpenApi => Ok(response(ok, "application/json", self.inner.openapi.clone())),
            Operation::Metrics => {
                backend.refresh_metrics(&self.inner.metrics).await;
                let m = &self.inner.metrics;
                let openmetrics = parts
                    .headers
                    .get_all(ACCEPT)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .any(|v| v.contains("application/openmetrics-text"));
                Ok(if openmetrics {
                    response(ok, metrics::CONTENT_TYPE_OPENMETRICS, Bytes::from(m.encode()))
                } else {
                    response(
                        ok,
                        metrics::CONTENT_TYPE_TEXT,
                        Bytes::from(m.encode_prometheus_text()),
                    )
                })
            }
            Operation::Livez => json_response(ok, &Liveness { live: true }),
            Operation::Readyz => {
                let r = backend.readiness().await;
                let status = if r.ready {
                    ok
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                json_response(status, &r)
            }
            Operation::BirdwatcherStatus => {
                let now = Timestamp::now();
                let s = backend.status().await?;
                json_response(ok, &bw::envelope(now, bw::status(now, &s)))
            }
            Operation::BirdwatcherProtocolsBgp => {
                let clients = backend.clients().await?;
                json_response(ok, &bw::envelope(Timestamp::now(), bw::protocols_bgp(&clients)))
            }
            Operation::BirdwatcherProtocolsShort => {
                let clients = backend.clients().await?;
                json_response(ok, &bw::envelope(Timestamp::now(), bw::protocols_short(&clients)))
            }
            Operation::BirdwatcherRoutesProtocol
            | Operation::BirdwatcherRoutesFiltered
            | Operation::BirdwatcherRoutesNoExport => {
                let name = param(&params, 0)?;
                let view = match op {
                    Operation::BirdwatcherRoutesProtocol => RouteView::Accepted,
                    Operation::BirdwatcherRoutesFiltered => RouteView::Filtered,
                    _ => RouteView::NotExported,
                };
                let client = backend.client(name).await?;
                let asn = backend.status().await?.asn;
                let page = backend
                    .client_routes(
                        name,
                        RouteQuery {
                            view,
                            offset: 0,
                            limit: None,
                        },
                    )
                    .await?;
                let address = client.address.to_string();
                let body = bw::routes(asn, &page.routes, |from| {
                    (from == client.name).then(|| address.clone())
                });
                json_response(ok, &bw::envelope(Timestamp::now(), body))
            }
            Operation::BirdwatcherRoutesPrefix => {
                let pairs = parse_query(query.unwrap_or("")).map_err(ApiError::bad_request)?;
                let raw = pairs
                    .iter()
                    .find(|(k, _)| k == "prefix")
                    .map(|(_, v)| v.as_str())
                    .ok_or_else(|| ApiError::bad_request("need a prefix as single query parameter"))?;
                let prefix = parse_prefix(raw)?;
                let asn = backend.status().await?.asn;
                let clients = backend.clients().await?;
                let routes: Vec<_> = match backend.prefix_routes(prefix).await {
                    Ok(p) => p.paths.into_iter().map(|p| p.route).collect(),
                    // birdwatcher answers an unknown prefix with no routes.
                    Err(AdminError::NotFound(_)) => Vec::new(),
                    Err(e) => return Err(e.into()),
                };
                let body = bw::routes(asn, &routes, |from| {
                    clients
                        .iter()
                        .find(|c| c.name == from)
                        .map(|c| c.address.to_string())
                });
                json_response(ok, &bw::envelope(Timestamp::now(), body))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_comparison() {
        let a: [u8; 32] = Sha256::digest(b"secret").into();
        let b: [u8; 32] = Sha256::digest(b"secreT").into();
        assert!(digests_equal(&a, &a));
        assert!(!digests_equal(&a, &b));
    }

    #[test]
    fn policy_names() {
        assert!(valid_policy_name("rs-import_v2.1"));
        for bad in ["", "a/b", "a b", "ü", &"x".repeat(65)] {
            assert!(!valid_policy_name(bad), "{bad}");
        }
    }
}
