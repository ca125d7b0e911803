//! The route table: one list of (method, path template, operation) that the
//! dispatcher matches against and the OpenAPI document is generated from, so
//! the two cannot disagree.
//!
//! Paths are split on `/` *before* percent-decoding, so a prefix sent as
//! `203.0.113.0%2F24` stays one segment; `203.0.113.0/24` unencoded is two
//! segments and has its own template.

use hyper::Method;

/// Every operation the server knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Status,
    ClientList,
    ClientGet,
    ClientRoutes,
    PrefixRoutes,
    PrefixRoutesSplit,
    RouteOriginate,
    RouteWithdraw,
    PolicyList,
    PolicyReplace,
    PolicyDryRun,
    PolicyRollback,
    Reload,
    HoldDeclare,
    HoldCancel,
    ClientShutdown,
    ClientEnable,
    OpenApi,
    Metrics,
    Livez,
    Readyz,
    BirdwatcherStatus,
    BirdwatcherProtocolsBgp,
    BirdwatcherProtocolsShort,
    BirdwatcherRoutesProtocol,
    BirdwatcherRoutesFiltered,
    BirdwatcherRoutesNoExport,
    BirdwatcherRoutesPrefix,
}

impl Operation {
    /// OpenAPI `operationId`, also the `operation` label of
    /// `kumo_admin_requests_total`.
    pub fn id(self) -> &'static str {
        match self {
            Operation::Status => "getStatus",
            Operation::ClientList => "listClients",
            Operation::ClientGet => "getClient",
            Operation::ClientRoutes => "getClientRoutes",
            Operation::PrefixRoutes => "getPrefixRoutes",
            Operation::PrefixRoutesSplit => "getPrefixRoutesSplit",
            Operation::RouteOriginate => "originateRoute",
            Operation::RouteWithdraw => "withdrawRoute",
            Operation::PolicyList => "listPolicies",
            Operation::PolicyReplace => "replacePolicy",
            Operation::PolicyDryRun => "dryRunPolicy",
            Operation::PolicyRollback => "rollbackPolicy",
            Operation::Reload => "reloadConfig",
            Operation::HoldDeclare => "declareHold",
            Operation::HoldCancel => "cancelHold",
            Operation::ClientShutdown => "shutdownClient",
            Operation::ClientEnable => "enableClient",
            Operation::OpenApi => "getOpenApi",
            Operation::Metrics => "getMetrics",
            Operation::Livez => "getLivez",
            Operation::Readyz => "getReadyz",
            Operation::BirdwatcherStatus => "birdwatcherStatus",
            Operation::BirdwatcherProtocolsBgp => "birdwatcherProtocolsBgp",
            Operation::BirdwatcherProtocolsShort => "birdwatcherProtocolsShort",
            Operation::BirdwatcherRoutesProtocol => "birdwatcherRoutesProtocol",
            Operation::BirdwatcherRoutesFiltered => "birdwatcherRoutesFiltered",
            Operation::BirdwatcherRoutesNoExport => "birdwatcherRoutesNoExport",
            Operation::BirdwatcherRoutesPrefix => "birdwatcherRoutesPrefix",
        }
    }

    /// Mutations need the bearer token; reads are open.
    pub fn is_mutation(self) -> bool {
        matches!(
            self,
            Operation::RouteOriginate
                | Operation::RouteWithdraw
                | Operation::PolicyReplace
                | Operation::PolicyDryRun
                | Operation::PolicyRollback
                | Operation::Reload
                | Operation::HoldDeclare
                | Operation::HoldCancel
                | Operation::ClientShutdown
                | Operation::ClientEnable
        )
    }
}

/// One entry of the route table.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: Method,
    /// `/api/v1/clients/{name}`: literal segments and `{param}` captures.
    pub path: &'static str,
    pub operation: Operation,
}

macro_rules! routes {
    ($($method:ident $path:literal => $op:ident,)*) => {
        /// The route table.
        pub fn routes() -> &'static [RouteSpec] {
            static ROUTES: std::sync::LazyLock<Vec<RouteSpec>> = std::sync::LazyLock::new(|| vec![
                $(RouteSpec { method: Method::$method, path: $path, operation: Operation::$op },)*
            ]);
            &ROUTES
        }
    };
}

routes! {
    GET "/api/v1/status" => Status,
    GET "/api/v1/clients" => ClientList,
    GET "/api/v1/clients/{name}" => ClientGet,
    GET "/api/v1/clients/{name}/routes" => ClientRoutes,
    POST "/api/v1/clients/{name}/hold" => HoldDeclare,
    DELETE "/api/v1/clients/{name}/hold" => HoldCancel,
    POST "/api/v1/clients/{name}/shutdown" => ClientShutdown,
    POST "/api/v1/clients/{name}/enable" => ClientEnable,
    GET "/api/v1/routes/{prefix}" => PrefixRoutes,
    GET "/api/v1/routes/{address}/{length}" => PrefixRoutesSplit,
    POST "/api/v1/routes" => RouteOriginate,
    DELETE "/api/v1/routes" => RouteWithdraw,
    GET "/api/v1/policies" => PolicyList,
    PUT "/api/v1/policies/{name}" => PolicyReplace,
    POST "/api/v1/policies/{name}/dry-run" => PolicyDryRun,
    POST "/api/v1/policies/{name}/rollback" => PolicyRollback,
    POST "/api/v1/reload" => Reload,
    GET "/api/v1/openapi.json" => OpenApi,
    GET "/metrics" => Metrics,
    GET "/livez" => Livez,
    GET "/readyz" => Readyz,
    GET "/status" => BirdwatcherStatus,
    GET "/protocols/bgp" => BirdwatcherProtocolsBgp,
    GET "/protocols/short" => BirdwatcherProtocolsShort,
    GET "/routes/protocol/{id}" => BirdwatcherRoutesProtocol,
    GET "/routes/filtered/{id}" => BirdwatcherRoutesFiltered,
    GET "/routes/noexport/{id}" => BirdwatcherRoutesNoExport,
    GET "/routes/prefix" => BirdwatcherRoutesPrefix,
}

/// Outcome of matching a request line against the table.
#[derive(Debug, PartialEq, Eq)]
pub enum RouteMatch {
    /// Matched; the `{param}` values in template order, percent-decoded.
    Found {
        operation: Operation,
        params: Vec<String>,
    },
    /// The path exists but not with this method.
    MethodNotAllowed {
        allowed: Vec<Method>,
    },
    NotFound,
    /// A path segment is not valid percent-encoded UTF-8.
    BadPath(String),
}

/// Matches `path` (without the query string) and `method`.
pub fn match_route(method: &Method, path: &str) -> RouteMatch {
    let Some(rest) = path.strip_prefix('/') else {
        return RouteMatch::NotFound;
    };
    let raw: Vec<&str> = rest.split('/').collect();
    let mut allowed = Vec::new();
    for spec in routes() {
        let template: Vec<&str> = spec.path[1..].split('/').collect();
        if template.len() != raw.len() {
            continue;
        }
        let mut params = Vec::new();
        let mut ok = true;
        for (t, r) in template.iter().zip(&raw) {
            if t.starts_with('{') {
                match percent_decode(r) {
                    Ok(v) if !v.is_empty() => params.push(v),
                    Ok(_) => {
                        ok = false;
                        break;
                    }
                    Err(e) => return RouteMatch::BadPath(e),
                }
            } else if t != r {
                ok = false;
                break;
            }
        }
        if !ok {
            continue;
        }
        if spec.method == *method {
            return RouteMatch::Found {
                operation: spec.operation,
                params,
            };
        }
        allowed.push(spec.method.clone());
    }
    if allowed.is_empty() {
        RouteMatch::NotFound
    } else {
        RouteMatch::MethodNotAllowed { allowed }
    }
}

/// Decodes `%XX` escapes; the result must be UTF-8. `+` is left alone (it
/// means space only in form bodies and query strings).
pub fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            match (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    // Two hex digits are at most 0xff.
                    out.push(u8::try_from(h * 16 + l).unwrap_or(0));
                    i += 3;
                }
                _ => return Err(format!("invalid percent-encoding in {s:?}")),
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("path segment {s:?} is not UTF-8"))
}

/// Parses a query string into decoded (key, value) pairs; `+` is a space.
pub fn parse_query(q: &str) -> Result<Vec<(String, String)>, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((
                percent_decode(&k.replace('+', " "))?,
                percent_decode(&v.replace('+', " "))?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(m: RouteMatch) -> (Operation, Vec<String>) {
        match m {
            RouteMatch::Found { operation, params } => (operation, params),
            other => panic!("expected a match, got {other:?}"),
        }
    }

    #[test]
    fn prefix_matches_encoded_and_split() {
        let (op, p) = found(match_route(&Method::GET, "/api/v1/routes/203.0.113.0%2F24"));
        assert_eq!(
            (op, p),
            (Operation::PrefixRoutes, vec!["203.0.113.0/24".to_owned()])
        );
        let (op, p) = found(match_route(&Method::GET, "/api/v1/routes/2001:db8::/32"));
        assert_eq!(
            (op, p),
            (
                Operation::PrefixRoutesSplit,
                vec!["2001:db8::".to_owned(), "32".to_owned()]
            )
        );
    }

    #[test]
    fn method_not_allowed_lists_methods() {
        match match_route(&Method::PATCH, "/api/v1/clients/x/hold") {
            RouteMatch::MethodNotAllowed { allowed } => {
                assert_eq!(allowed, vec![Method::POST, Method::DELETE]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(match_route(&Method::GET, "/api/v1/nope"), RouteMatch::NotFound);
        assert_eq!(
            match_route(&Method::GET, "/api/v1/clients/"),
            RouteMatch::NotFound
        );
        assert!(matches!(
            match_route(&Method::GET, "/api/v1/clients/%ff"),
            RouteMatch::BadPath(_)
        ));
        assert!(matches!(
            match_route(&Method::GET, "/api/v1/clients/%4"),
            RouteMatch::BadPath(_)
        ));
    }

    #[test]
    fn every_template_matches_itself() {
        for spec in routes() {
            let concrete = spec
                .path
                .replace("{name}", "n")
                .replace("{prefix}", "p")
                .replace("{address}", "a");
            let concrete = concrete.replace("{length}", "1").replace("{id}", "i");
            let (op, _) = found(match_route(&spec.method, &concrete));
            assert_eq!(op, spec.operation, "{}", spec.path);
        }
    }

    #[test]
    fn query_decoding() {
        let q = parse_query("view=filtered&limit=10&x=a%2Fb+c").unwrap_or_default();
        assert_eq!(q[0], ("view".into(), "filtered".into()));
        assert_eq!(q[2], ("x".into(), "a/b c".into()));
        assert!(parse_query("a=%zz").is_err());
    }
}
