//! Every endpoint against the in-memory mock backend, through
//! `AdminServer::handle` (no socket) and, for connection-level behaviour,
//! through a real TCP listener.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, StatusCode};
use kumo_admin::dto::{
    Client, ClientList, DryRun, ErrorBody, Hold, OriginateResult, PolicyList, PolicySwap, Prefix,
    PrefixRoutes, Readiness, ReloadReport, RouteView, RoutesPage, Status,
};
use kumo_admin::mock::{BAD_MODULE_MARKER, MockBackend};
use kumo_admin::router::routes;
use kumo_admin::{AdminOptions, AdminServer, Metrics};
use serde::de::DeserializeOwned;
use serde_json::Value;

const TOKEN: &str = "s3cret-token";
const WASM: &[u8] = b"\0asm\x0d\0\x01\0component-bytes";

struct Harness {
    server: AdminServer<MockBackend>,
    backend: Arc<MockBackend>,
}

fn harness_with(options: AdminOptions) -> Harness {
    let backend = Arc::new(MockBackend::sample());
    let server = AdminServer::new(options, Arc::clone(&backend), Arc::new(Metrics::new("test")));
    Harness { server, backend }
}

fn harness() -> Harness {
    harness_with(AdminOptions {
        token: Some(TOKEN.to_owned()),
        ..AdminOptions::default()
    })
}

struct Reply {
    status: StatusCode,
    headers: hyper::HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
    fn error(&self) -> String {
        self.json::<ErrorBody>().error
    }
    fn value(&self) -> Value {
        self.json()
    }
}

impl Harness {
    async fn request(&self, method: Method, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut b = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(Full::new(Bytes::copy_from_slice(body))).unwrap();
        let resp = self.server.handle(req).await;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, &[], b"").await
    }

    /// A mutation with the right token and a JSON body.
    async fn mutate(&self, method: Method, path: &str, body: &str) -> Reply {
        let auth = format!("Bearer {TOKEN}");
        self.request(
            method,
            path,
            &[("authorization", &auth), ("content-type", "application/json")],
            body.as_bytes(),
        )
        .await
    }

    async fn upload(&self, method: Method, path: &str, module: &[u8]) -> Reply {
        let auth = format!("Bearer {TOKEN}");
        self.request(
            method,
            path,
            &[("authorization", &auth), ("content-type", "application/wasm")],
            module,
        )
        .await
    }
}

#[tokio::test]
async fn status_and_clients() {
    let h = harness();
    let r = h.get("/api/v1/status").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/json");
    let s: Status = r.json();
    assert_eq!(s.asn, 64500);
    assert_eq!(s.policies.len(), 2);

    let list: ClientList = h.get("/api/v1/clients").await.json();
    let names: Vec<_> = list.clients.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["as65001", "as65002"]);

    let c: Client = h.get("/api/v1/clients/as65001").await.json();
    assert_eq!(c.asn, 65001);
    assert_eq!(c.prefixes[0].filtered, 1);
    assert!(c.capabilities.is_some());

    let r = h.get("/api/v1/clients/nobody").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.error().contains("nobody"), "{}", r.error());
}

#[tokio::test]
async fn client_routes_views_and_paging() {
    let h = harness();
    let page: RoutesPage = h.get("/api/v1/clients/as65001/routes").await.json();
    assert_eq!(
        (page.view, page.total, page.routes.len()),
        (RouteView::Received, 3, 3)
    );

    let page: RoutesPage = h.get("/api/v1/clients/as65001/routes?view=filtered").await.json();
    assert_eq!(page.total, 1);
    let reason = page.routes[0].filtered.clone().unwrap();
    assert_eq!((reason.code, reason.policy.as_str()), (9, "rs-import"));

    let v = h
        .get("/api/v1/clients/as65001/routes?view=accepted")
        .await
        .value();
    let r0 = &v["routes"][0];
    assert_eq!(r0["prefix"], "203.0.113.0/24");
    assert_eq!(r0["communities"][0], "65001:100");
    assert_eq!(r0["large_communities"][0], "65001:1:2");
    assert_eq!(r0["as_path"], serde_json::json!([65001, 64496]));

    // 198.51.100.0/24 is accepted from as65001 but kept from as65002.
    let page: RoutesPage = h.get("/api/v1/clients/as65002/routes?view=exported").await.json();
    assert_eq!(page.total, 1);
    assert_eq!(page.routes[0].prefix.to_string(), "203.0.113.0/24");
    let page: RoutesPage = h
        .get("/api/v1/clients/as65002/routes?view=not_exported")
        .await
        .json();
    assert!(page.routes[0].filtered.as_ref().unwrap().text.contains("0:65002"));

    let page: RoutesPage = h
        .get("/api/v1/clients/as65001/routes?offset=1&limit=1")
        .await
        .json();
    assert_eq!((page.total, page.offset, page.routes.len()), (3, 1, 1));
    assert_eq!(page.routes[0].prefix.to_string(), "10.0.0.0/8");

    for bad in [
        "view=best",
        "limit=0",
        "limit=100001",
        "offset=-1",
        "limit=x",
        "sort=prefix",
        "view=%zz",
    ] {
        let r = h.get(&format!("/api/v1/clients/as65001/routes?{bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(!r.error().is_empty());
    }
    assert_eq!(
        h.get("/api/v1/clients/nobody/routes").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn prefix_lookup_both_encodings() {
    let h = harness();
    for path in [
        "/api/v1/routes/203.0.113.0%2F24",
        "/api/v1/routes/203.0.113.0/24",
        "/api/v1/routes/203.0.113.0%2f24",
    ] {
        let r = h.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let p: PrefixRoutes = r.json();
        assert_eq!(p.prefix.to_string(), "203.0.113.0/24");
        let exports = &p.paths[0].exports;
        assert_eq!(exports.len(), 1);
        assert!(exports[0].exported);
        assert_eq!(exports[0].policy.as_deref(), Some("rs-export"));
    }
    // The path kept from as65002 by an action community says why.
    let p: PrefixRoutes = h.get("/api/v1/routes/198.51.100.0%2F24").await.json();
    let d = &p.paths[0].exports[0];
    assert_eq!((d.client.as_str(), d.exported), ("as65002", false));
    assert_eq!(d.reason.as_ref().unwrap().code, 1);

    assert_eq!(
        h.get("/api/v1/routes/192.0.2.0%2F24").await.status,
        StatusCode::NOT_FOUND
    );
    for bad in [
        "/api/v1/routes/203.0.113.1%2F24",
        "/api/v1/routes/nonsense",
        "/api/v1/routes/203.0.113.0/33",
    ] {
        let r = h.get(bad).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    assert!(
        h.get("/api/v1/routes/203.0.113.1%2F24")
            .await
            .error()
            .contains("203.0.113.0/24")
    );
}

#[tokio::test]
async fn unknown_path_and_wrong_method() {
    let h = harness();
    let r = h.get("/api/v2/status").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.error().contains("/api/v2/status"));
    let r = h.request(Method::DELETE, "/api/v1/status", &[], b"").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers["allow"], "GET");
    let r = h
        .request(Method::GET, "/api/v1/policies/rs-import", &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers["allow"], "PUT");
}

#[tokio::test]
async fn mutations_need_the_token() {
    let h = harness();
    let mutations: Vec<_> = routes().iter().filter(|r| r.operation.is_mutation()).collect();
    assert_eq!(mutations.len(), 10);
    for spec in &mutations {
        let path = spec.path.replace("{name}", "as65001");
        let r = h.request(spec.method.clone(), &path, &[], b"{}").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{} {path}", spec.method);
        assert_eq!(r.headers["www-authenticate"], "Bearer realm=\"kumo\"");
        for bad in ["Bearer wrong", "Basic czNjcmV0LXRva2Vu", "Bearer", TOKEN] {
            let r = h
                .request(spec.method.clone(), &path, &[("authorization", bad)], b"{}")
                .await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bad:?} on {path}");
        }
    }
    // The scheme is case-insensitive (RFC 9110 §11.1).
    let r = h
        .request(
            Method::POST,
            "/api/v1/reload",
            &[("authorization", &format!("bearer {TOKEN}"))],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // Nothing changed through the refused attempts.
    let c: Client = h.get("/api/v1/clients/as65001").await.json();
    assert!(!c.admin_down);
}

#[tokio::test]
async fn mutations_refused_without_configured_token() {
    for token in [None, Some(String::new())] {
        let h = harness_with(AdminOptions {
            token,
            ..AdminOptions::default()
        });
        let r = h
            .request(
                Method::POST,
                "/api/v1/reload",
                &[("authorization", "Bearer ")],
                b"",
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.error().contains("token_file"), "{}", r.error());
        // Reads still work.
        assert_eq!(h.get("/api/v1/status").await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn hold_declare_and_cancel() {
    let h = harness();
    let r = h
        .mutate(
            Method::POST,
            "/api/v1/clients/as65001/hold",
            r#"{"seconds": 600}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let hold: Hold = r.json();
    assert!(hold.window_until.is_some());
    let c: Client = h.get("/api/v1/clients/as65001").await.json();
    assert_eq!(c.hold.window_until, hold.window_until);

    for (body, why) in [
        (r#"{"seconds": 0}"#, "seconds"),
        (r#"{"seconds": 604801}"#, "seconds"),
        (r#"{"seconds": -5}"#, "invalid JSON"),
        (r#"{"seconds": 60, "until": 1}"#, "unknown field"),
        (r#"{"seconds": "60"}"#, "invalid JSON"),
        ("{", "invalid JSON"),
        ("", "invalid JSON"),
    ] {
        let r = h.mutate(Method::POST, "/api/v1/clients/as65002/hold", body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(r.error().contains(why), "{body}: {}", r.error());
    }
    // Nothing half-applied: as65002 has no window after the refused requests.
    let c: Client = h.get("/api/v1/clients/as65002").await.json();
    assert_eq!(c.hold.window_until, None);

    let r = h
        .mutate(Method::POST, "/api/v1/clients/nobody/hold", r#"{"seconds": 60}"#)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = h.mutate(Method::DELETE, "/api/v1/clients/as65001/hold", "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json::<Hold>().window_until, None);
    assert_eq!(
        h.mutate(Method::DELETE, "/api/v1/clients/nobody/hold", "")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn shutdown_and_enable() {
    let h = harness();
    let r = h
        .mutate(
            Method::POST,
            "/api/v1/clients/as65001/shutdown",
            r#"{"message": "upgrade, back at 14:00"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let c: Client = r.json();
    assert!(c.admin_down);
    assert!(c.last_error.unwrap().contains("back at 14:00"));

    // No body at all is a shutdown without a message.
    let r = h
        .mutate(Method::POST, "/api/v1/clients/as65002/shutdown", "")
        .await;
    assert_eq!(r.status, StatusCode::OK);

    let long = format!(r#"{{"message": "{}"}}"#, "x".repeat(256));
    let r = h
        .mutate(Method::POST, "/api/v1/clients/as65001/shutdown", &long)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().contains("255"));

    let r = h.mutate(Method::POST, "/api/v1/clients/as65001/enable", "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.json::<Client>().admin_down);
    let r = h.mutate(Method::POST, "/api/v1/clients/as65001/enable", "").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        h.mutate(Method::POST, "/api/v1/clients/nobody/enable", "")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn policies_replace_dry_run_rollback() {
    let h = harness();
    let list: PolicyList = h.get("/api/v1/policies").await.json();
    assert_eq!(list.policies.len(), 2);
    let before = h.backend.policy_sha256("rs-import").unwrap();

    // Dry run swaps nothing.
    let r = h
        .upload(Method::POST, "/api/v1/policies/rs-import/dry-run", WASM)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let d: DryRun = r.json();
    assert_eq!(d.clients[0].to_reject, 1);
    assert_ne!(d.sha256, before);
    assert_eq!(h.backend.policy_sha256("rs-import").unwrap(), before);

    // Rollback before any swap: nothing to go back to.
    assert_eq!(
        h.mutate(Method::POST, "/api/v1/policies/rs-import/rollback", "")
            .await
            .status,
        StatusCode::CONFLICT
    );

    let r = h.upload(Method::PUT, "/api/v1/policies/rs-import", WASM).await;
    assert_eq!(r.status, StatusCode::OK);
    let swap: PolicySwap = r.json();
    assert_eq!(h.backend.policy_sha256("rs-import").unwrap(), swap.sha256);
    assert_eq!(swap.routes_reevaluated, 3);

    // A module that does not validate is refused and the current one stays.
    let mut bad = WASM.to_vec();
    bad.extend_from_slice(BAD_MODULE_MARKER);
    let r = h.upload(Method::PUT, "/api/v1/policies/rs-import", &bad).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().contains("kumo:policy"));
    assert_eq!(h.backend.policy_sha256("rs-import").unwrap(), swap.sha256);

    let r = h
        .mutate(Method::POST, "/api/v1/policies/rs-import/rollback", "")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json::<PolicySwap>().sha256, before);

    // Not wasm, wrong media type, bad name, unknown policy.
    let r = h
        .upload(Method::PUT, "/api/v1/policies/rs-import", b"hello")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().contains("WebAssembly"));
    let auth = format!("Bearer {TOKEN}");
    let r = h
        .request(
            Method::PUT,
            "/api/v1/policies/rs-import",
            &[("authorization", &auth), ("content-type", "text/plain")],
            WASM,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = h
        .request(
            Method::PUT,
            "/api/v1/policies/rs-import",
            &[
                ("authorization", &auth),
                ("content-type", "application/octet-stream"),
            ],
            WASM,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        h.upload(Method::PUT, "/api/v1/policies/a%20b", WASM).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        h.upload(Method::PUT, "/api/v1/policies/nope", WASM).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.upload(Method::POST, "/api/v1/policies/nope/dry-run", WASM)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.mutate(Method::POST, "/api/v1/policies/nope/rollback", "")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let h = harness_with(AdminOptions {
        token: Some(TOKEN.to_owned()),
        max_body: 64,
        max_json_body: 32,
        ..AdminOptions::default()
    });
    let big = [WASM, &[0u8; 64]].concat();
    // Without Content-Length (the body streams in): the limit cuts it off.
    let r = h.upload(Method::PUT, "/api/v1/policies/rs-import", &big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.error().contains("64 bytes"));
    // With a declared Content-Length over the limit: refused before reading.
    let auth = format!("Bearer {TOKEN}");
    let len = big.len().to_string();
    let r = h
        .request(
            Method::PUT,
            "/api/v1/policies/rs-import",
            &[("authorization", &auth), ("content-length", &len)],
            &big,
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let r = h
        .upload(Method::POST, "/api/v1/policies/rs-import/dry-run", &big)
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // JSON bodies have their own, smaller limit.
    let body = format!(r#"{{"message": "{}"}}"#, "y".repeat(40));
    let r = h
        .mutate(Method::POST, "/api/v1/clients/as65001/shutdown", &body)
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let c: Client = h.get("/api/v1/clients/as65001").await.json();
    assert!(!c.admin_down, "a refused request must change nothing");
    // At the limit is fine.
    let r = h
        .upload(Method::PUT, "/api/v1/policies/rs-import", &big[..64])
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn reload_reports_clients() {
    let h = harness();
    let r = h.mutate(Method::POST, "/api/v1/reload", "").await;
    assert_eq!(r.status, StatusCode::OK);
    let rep: ReloadReport = r.json();
    assert_eq!(rep.clients_unchanged, ["as65001", "as65002"]);
}

#[tokio::test]
async fn originate_and_withdraw() {
    let h = harness();
    let body = r#"{"prefix": "192.0.2.0/24", "next_hop": "192.0.2.254", "communities": ["64500:1"],
                   "large_communities": ["64500:0:1"], "as_path": [64500], "med": 5}"#;
    let r = h.mutate(Method::POST, "/api/v1/routes", body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
    let res: OriginateResult = r.json();
    assert!(res.originated);
    let p: Prefix = "192.0.2.0/24".parse().unwrap();
    assert!(h.backend.originates(p));
    // An originated route is a path of the prefix like any other.
    let paths: PrefixRoutes = h.get("/api/v1/routes/192.0.2.0%2F24").await.json();
    assert_eq!(paths.paths[0].route.from_client, "kumo");
    assert_eq!(paths.paths[0].route.communities[0].to_string(), "64500:1");

    for (bad, why) in [
        (
            r#"{"prefix": "192.0.2.1/24", "next_hop": "192.0.2.254"}"#,
            "host bits",
        ),
        (r#"{"prefix": "192.0.2.0/24", "next_hop": "nope"}"#, "invalid"),
        (
            r#"{"prefix": "192.0.2.0/24", "next_hop": "192.0.2.254", "communities": ["1:2:3"]}"#,
            "community",
        ),
        (
            r#"{"prefix": "192.0.2.0/24", "next_hop": "192.0.2.254", "large_communities": ["1:2"]}"#,
            "large community",
        ),
        (
            r#"{"prefix": "192.0.2.0/24", "next_hop": "192.0.2.254", "med": -1}"#,
            "invalid",
        ),
        (r#"{"next_hop": "192.0.2.254"}"#, "prefix"),
        (r#"["192.0.2.0/24"]"#, "invalid"),
    ] {
        let r = h.mutate(Method::POST, "/api/v1/routes", bad).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(r.error().contains(why), "{bad}: {}", r.error());
    }
    let r = h.mutate(Method::POST, "/api/v1/routes", "").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let r = h
        .mutate(Method::DELETE, "/api/v1/routes", r#"{"prefix": "192.0.2.0/24"}"#)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.json::<OriginateResult>().originated);
    assert!(!h.backend.originates(p));
    assert_eq!(
        h.get("/api/v1/routes/192.0.2.0%2F24").await.status,
        StatusCode::NOT_FOUND
    );
    let r = h
        .mutate(Method::DELETE, "/api/v1/routes", r#"{"prefix": "192.0.2.0/24"}"#)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn livez_readyz() {
    let h = harness();
    let r = h.get("/livez").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.value()["live"], true);
    assert_eq!(h.get("/readyz").await.status, StatusCode::OK);
    h.backend.set_not_ready(vec![
        "BGP listener not bound".into(),
        "policy rs-import not instantiated".into(),
    ]);
    let r = h.get("/readyz").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let ready: Readiness = r.json();
    assert!(!ready.ready);
    assert_eq!(ready.reasons.len(), 2);
}

#[tokio::test]
async fn metrics_exposition() {
    let h = harness();
    h.get("/api/v1/status").await;
    h.get("/api/v1/clients/nobody").await;
    let r = h.get("/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    for needle in [
        "kumo_client_up{client=\"as65001\"} 1",
        "kumo_client_up{client=\"as65002\"} 0",
        "kumo_client_prefixes{client=\"as65001\",afi=\"ipv4\",state=\"filtered\"} 1",
        "kumo_admin_requests_total{operation=\"getStatus\",code=\"200\"} 1",
        "kumo_admin_requests_total{operation=\"getClient\",code=\"404\"} 1",
    ] {
        assert!(text.contains(needle), "missing {needle}:\n{text}");
    }
    promtool_check(&text);

    let r = h
        .request(
            Method::GET,
            "/metrics",
            &[("accept", "application/openmetrics-text;version=1.0.0")],
            b"",
        )
        .await;
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    assert!(String::from_utf8_lossy(&r.body).ends_with("# EOF\n"));
}

/// `promtool check metrics` (Debian package `prometheus`) lints the
/// exposition; absent promtool, say so loudly and skip.
fn promtool_check(text: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!("SKIPPED promtool check: promtool not available ({e}); apt-get install prometheus");
            return;
        }
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics:\n{report}\n---\n{text}"
    );
}

#[tokio::test]
async fn openapi_lists_every_route() {
    let h = harness();
    let r = h.get("/api/v1/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.value();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = 0;
    for (path, item) in paths {
        documented += item.as_object().unwrap().len();
        assert!(
            routes().iter().any(|r| r.path == path),
            "documented but not routed: {path}"
        );
    }
    assert_eq!(documented, routes().len());
    for spec in routes() {
        let op = &doc["paths"][spec.path][spec.method.as_str().to_ascii_lowercase()];
        assert!(
            op.is_object(),
            "{} {} missing from OpenAPI",
            spec.method,
            spec.path
        );
    }
}

/// Replaces every leaf by its JSON type name, arrays by the shape of their
/// first element, and birdwatcher's `protocols` map (keyed by protocol id) by
/// the shape of one entry.
fn shape(v: &Value, key: &str) -> Value {
    match v {
        Value::Object(m) if key == "protocols" => {
            Value::Array(m.values().take(1).map(|p| shape(p, "")).collect())
        }
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v, k))).collect()),
        Value::Array(a) => Value::Array(a.iter().take(1).map(|x| shape(x, "")).collect()),
        Value::String(_) => "string".into(),
        Value::Number(_) => "number".into(),
        Value::Bool(_) => "bool".into(),
        Value::Null => "null".into(),
    }
}

/// Every field of `expected` is in `actual` with the same shape.
fn assert_covers(expected: &Value, actual: &Value, at: &str) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let av = a
                    .get(k)
                    .unwrap_or_else(|| panic!("{at}.{k} missing in kumo's output: {actual}"));
                assert_covers(ev, av, &format!("{at}.{k}"));
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            assert!(
                !a.is_empty() || e.is_empty(),
                "{at}: kumo's array is empty, cannot compare"
            );
            if let (Some(e0), Some(a0)) = (e.first(), a.first()) {
                assert_covers(e0, a0, &format!("{at}[0]"));
            }
        }
        _ => assert_eq!(expected, actual, "{at}: JSON type differs"),
    }
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/birdwatcher/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[tokio::test]
async fn birdwatcher_shapes() {
    let h = harness();
    for (path, fixture_name) in [
        ("/status", "status.json"),
        ("/protocols/bgp", "protocols_bgp.json"),
        ("/protocols/short?uncached=true", "protocols_short.json"),
        ("/routes/protocol/as65001", "routes.json"),
        ("/routes/filtered/as65001", "routes.json"),
        ("/routes/noexport/as65002", "routes.json"),
        ("/routes/prefix?prefix=203.0.113.0%2F24", "routes.json"),
    ] {
        let r = h.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let ours = r.value();
        // routes/filtered and noexport paths have no MED in the sample; only
        // compare the fields such a path has.
        let mut expected = fixture(fixture_name);
        if ours.pointer("/routes/0/bgp/med").is_none()
            && let Some(bgp) = expected
                .pointer_mut("/routes/0/bgp")
                .and_then(Value::as_object_mut)
        {
            bgp.remove("med");
            bgp.remove("communities");
            bgp.remove("ext_communities");
        }
        assert_covers(&shape(&expected, ""), &shape(&ours, ""), path);
    }
}

#[tokio::test]
async fn birdwatcher_values() {
    let h = harness();
    let v = h.get("/protocols/bgp").await.value();
    let p = &v["protocols"]["as65001"];
    assert_eq!(p["state"], "up");
    assert_eq!(p["neighbor_as"], 65001);
    assert_eq!(p["routes"]["imported"], 2);
    assert_eq!(p["routes"]["filtered"], 1);
    assert_eq!(v["protocols"]["as65002"]["state"], "start");
    assert_eq!(v["protocols"]["as65002"]["last_error"], "Hold timer expired");
    assert_eq!(v["api"]["cache_status"]["cached_at"]["timezone"], "UTC");

    let v = h.get("/routes/protocol/as65001").await.value();
    let routes = v["routes"].as_array().unwrap();
    assert_eq!(routes.len(), 2, "accepted paths only");
    assert_eq!(routes[0]["bgp"]["as_path"], serde_json::json!(["65001", "64496"]));
    assert_eq!(routes[0]["learnt_from"], "192.0.2.1");

    // The filter reason is carried as rs-asn:1101:code for Alice.
    let v = h.get("/routes/filtered/as65001").await.value();
    assert_eq!(v["routes"][0]["network"], "10.0.0.0/8");
    assert_eq!(
        v["routes"][0]["bgp"]["large_communities"],
        serde_json::json!([[64500, 1101, 9]])
    );

    let v = h.get("/status").await.value();
    assert_eq!(v["status"]["router_id"], "192.0.2.254");
    assert_eq!(v["status"]["last_reboot"], "2023-11-14 22:13:20");

    assert_eq!(
        h.get("/routes/protocol/nobody").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(h.get("/routes/prefix").await.status, StatusCode::BAD_REQUEST);
    let v = h.get("/routes/prefix?prefix=192.0.2.0/24").await.value();
    assert_eq!(v["routes"], serde_json::json!([]));
}

mod tcp {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(request).await.unwrap();
        let mut out = Vec::new();
        // The server closes after `Connection: close`; bound the wait anyway.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn serves_over_tcp_and_shuts_down() {
        let h = harness_with(AdminOptions {
            token: Some(TOKEN.to_owned()),
            max_body: 1024,
            ..AdminOptions::default()
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(h.server.clone().serve(listener, async {
            let _ = stopped.await;
        }));

        let reply = raw(
            addr,
            b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        assert!(reply.contains("{\"live\":true}"), "{reply}");

        // A declared body over the limit is refused without sending it.
        let req = format!(
            "PUT /api/v1/policies/rs-import HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/wasm\r\nContent-Length: 1000000\r\nConnection: close\r\n\r\n"
        );
        let reply = raw(addr, req.as_bytes()).await;
        assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
        assert!(reply.contains("\"error\""), "{reply}");

        let reply = raw(
            addr,
            b"GET /api/v1/routes/203.0.113.0%2F24 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");

        stop.send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap();
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "listener must be closed after shutdown"
        );
    }
}
