//! The OpenAPI 3.1 document served at `/api/v1/openapi.json`.
//!
//! Paths come from the route table ([`crate::router::routes`]); schemas come
//! from the DTOs' `JsonSchema` derives (JSON Schema 2020-12, which OpenAPI 3.1
//! uses as is). Response schemas are generated for what the server
//! serialises, request schemas for what it accepts (optional fields are not
//! required), so the document describes the wire and not a hand-kept copy.

use schemars::generate::{Contract, SchemaSettings};
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::dto::{
    Client, ClientList, DryRun, ErrorBody, Hold, HoldRequest, Liveness, OriginateRequest, OriginateResult,
    PolicyList, PolicySwap, PrefixRoutes, Readiness, ReloadReport, RoutesPage, ShutdownRequest, Status,
    WithdrawRequest,
};
use crate::router::{Operation, routes};

struct Generators {
    response: SchemaGenerator,
    request: SchemaGenerator,
}

impl Generators {
    fn new() -> Self {
        let settings = |contract| {
            let mut s = SchemaSettings::draft2020_12();
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
            s.contract = contract;
            s
        };
        Generators {
            response: SchemaGenerator::new(settings(Contract::Serialize)),
            request: SchemaGenerator::new(settings(Contract::Deserialize)),
        }
    }

    fn out<T: JsonSchema>(&mut self) -> Value {
        Value::from(self.response.subschema_for::<T>())
    }

    fn input<T: JsonSchema>(&mut self) -> Value {
        Value::from(self.request.subschema_for::<T>())
    }
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn error_response(g: &mut Generators, description: &str) -> Value {
    json_response(description, g.out::<ErrorBody>())
}

fn path_param(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": description, "schema": schema })
}

struct Doc {
    summary: &'static str,
    tag: &'static str,
    parameters: Vec<Value>,
    request: Option<Value>,
    ok: Value,
    /// Extra error statuses beyond those every operation of its kind has.
    errors: &'static [(&'static str, &'static str)],
}

fn name_param() -> Value {
    path_param(
        "name",
        "Client name as configured",
        json!({ "type": "string", "minLength": 1 }),
    )
}

fn policy_param() -> Value {
    path_param(
        "name",
        "Policy name as configured",
        json!({ "type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$" }),
    )
}

fn prefix_schema(g: &mut Generators) -> Value {
    g.input::<crate::dto::Prefix>()
}

fn address_schema() -> Value {
    Value::from(crate::dto::ip_address_schema(&mut SchemaGenerator::default()))
}

fn wasm_body() -> Value {
    // Must start with the `\0asm` magic (checked; 400 otherwise).
    let schema = json!({ "type": "string", "format": "binary", "contentMediaType": "application/wasm", "minLength": 8 });
    json!({
        "required": true,
        "description": "A WebAssembly component (the policy module)",
        "content": {
            "application/wasm": { "schema": schema },
            "application/octet-stream": { "schema": schema },
        }
    })
}

fn json_body<T: JsonSchema>(g: &mut Generators, required: bool) -> Value {
    json!({ "required": required, "content": { "application/json": { "schema": g.input::<T>() } } })
}

fn birdwatcher_ok(what: &str) -> Value {
    json_response(
        &format!("birdwatcher-compatible {what} (shape as Alice-LG's birdwatcher source reads it)"),
        json!({ "type": "object", "required": ["api", "ttl"] }),
    )
}

fn doc(op: Operation, g: &mut Generators) -> Doc {
    const NOT_FOUND: &[(&str, &str)] = &[("404", "No such client")];
    let d = |summary, tag, parameters, request, ok, errors| Doc {
        summary,
        tag,
        parameters,
        request,
        ok,
        errors,
    };
    match op {
        Operation::Status => d(
            "Daemon status",
            "status",
            vec![],
            None,
            json_response("Status", g.out::<Status>()),
            &[],
        ),
        Operation::ClientList => d(
            "All clients",
            "clients",
            vec![],
            None,
            json_response("Clients", g.out::<ClientList>()),
            &[],
        ),
        Operation::ClientGet => d(
            "One client",
            "clients",
            vec![name_param()],
            None,
            json_response("Client", g.out::<Client>()),
            NOT_FOUND,
        ),
        Operation::ClientRoutes => d(
            "A client's routes in one view",
            "routes",
            vec![
                name_param(),
                json!({ "name": "view", "in": "query", "required": false,
                        "schema": { "type": "string", "enum": ["received", "accepted", "filtered", "exported", "not_exported"],
                                    "default": "received" } }),
                json!({ "name": "offset", "in": "query", "required": false,
                        "schema": { "type": "integer", "minimum": 0, "default": 0 } }),
                json!({ "name": "limit", "in": "query", "required": false,
                        "schema": { "type": "integer", "minimum": 1, "maximum": crate::server::MAX_ROUTES_LIMIT,
                                    "default": crate::server::DEFAULT_ROUTES_LIMIT } }),
            ],
            None,
            json_response("Routes", g.out::<RoutesPage>()),
            &[("400", "Invalid query parameter"), ("404", "No such client")],
        ),
        Operation::PrefixRoutes => d(
            "Every path for a prefix and per client whether it was exported",
            "routes",
            vec![path_param(
                "prefix",
                "Prefix, URL-encoded (`203.0.113.0%2F24`)",
                prefix_schema(g),
            )],
            None,
            json_response("Paths", g.out::<PrefixRoutes>()),
            &[("400", "Invalid prefix"), ("404", "Prefix not in any RIB")],
        ),
        Operation::PrefixRoutesSplit => d(
            "Every path for a prefix (address and length as two segments)",
            "routes",
            vec![
                path_param("address", "Network address", address_schema()),
                path_param(
                    "length",
                    "Prefix length",
                    json!({ "type": "integer", "minimum": 0, "maximum": 128 }),
                ),
            ],
            None,
            json_response("Paths", g.out::<PrefixRoutes>()),
            &[("400", "Invalid prefix"), ("404", "Prefix not in any RIB")],
        ),
        Operation::RouteOriginate => d(
            "Originate a route from kumo itself",
            "routes",
            vec![],
            Some(json_body::<OriginateRequest>(g, true)),
            json_response("Originated", g.out::<OriginateResult>()),
            &[],
        ),
        Operation::RouteWithdraw => d(
            "Withdraw a route kumo originated",
            "routes",
            vec![],
            Some(json_body::<WithdrawRequest>(g, true)),
            json_response("Withdrawn", g.out::<OriginateResult>()),
            &[("404", "kumo does not originate this prefix")],
        ),
        Operation::PolicyList => d(
            "Loaded policies",
            "policies",
            vec![],
            None,
            json_response("Policies", g.out::<PolicyList>()),
            &[],
        ),
        Operation::PolicyReplace => d(
            "Upload, validate and swap in a policy module; re-evaluates affected routes",
            "policies",
            vec![policy_param()],
            Some(wasm_body()),
            json_response("Swapped", g.out::<PolicySwap>()),
            &[("404", "No such policy")],
        ),
        Operation::PolicyDryRun => d(
            "What a candidate module would change, without swapping it in",
            "policies",
            vec![policy_param()],
            Some(wasm_body()),
            json_response("Diff", g.out::<DryRun>()),
            &[("404", "No such policy")],
        ),
        Operation::PolicyRollback => d(
            "Go back to the previous module",
            "policies",
            vec![policy_param()],
            None,
            json_response("Rolled back", g.out::<PolicySwap>()),
            &[("404", "No such policy"), ("409", "No previous module")],
        ),
        Operation::Reload => d(
            "Re-read the configuration file",
            "config",
            vec![],
            None,
            json_response("What changed", g.out::<ReloadReport>()),
            &[("400", "The new configuration is invalid; the old one stays")],
        ),
        Operation::HoldDeclare => d(
            "Declare a maintenance window (static-hold)",
            "clients",
            vec![name_param()],
            Some(json_body::<HoldRequest>(g, true)),
            json_response("Hold state", g.out::<Hold>()),
            NOT_FOUND,
        ),
        Operation::HoldCancel => d(
            "Cancel a maintenance window",
            "clients",
            vec![name_param()],
            None,
            json_response("Hold state", g.out::<Hold>()),
            NOT_FOUND,
        ),
        Operation::ClientShutdown => d(
            "Cease / Administrative Shutdown (RFC 8203) and keep the session down",
            "clients",
            vec![name_param()],
            Some(json_body::<ShutdownRequest>(g, false)),
            json_response("Client", g.out::<Client>()),
            NOT_FOUND,
        ),
        Operation::ClientEnable => d(
            "Allow a shut-down session again",
            "clients",
            vec![name_param()],
            None,
            json_response("Client", g.out::<Client>()),
            &[("404", "No such client"), ("409", "Client is not shut down")],
        ),
        Operation::OpenApi => d(
            "This document",
            "meta",
            vec![],
            None,
            json_response("OpenAPI 3.1", json!({ "type": "object" })),
            &[],
        ),
        Operation::Metrics => d(
            "Prometheus metrics",
            "meta",
            vec![],
            None,
            json!({ "description": "Prometheus text format 0.0.4, or OpenMetrics when the Accept header asks for it",
                    "content": { "text/plain": { "schema": { "type": "string" } },
                                 "application/openmetrics-text": { "schema": { "type": "string" } } } }),
            &[],
        ),
        Operation::Livez => d(
            "Liveness",
            "meta",
            vec![],
            None,
            json_response("Serving", g.out::<Liveness>()),
            &[],
        ),
        Operation::Readyz => d(
            "Readiness",
            "meta",
            vec![],
            None,
            json_response("Ready", g.out::<Readiness>()),
            &[("503", "Not ready (reasons listed)")],
        ),
        Operation::BirdwatcherStatus => d(
            "birdwatcher /status",
            "birdwatcher",
            vec![],
            None,
            birdwatcher_ok("status"),
            &[],
        ),
        Operation::BirdwatcherProtocolsBgp => d(
            "birdwatcher /protocols/bgp",
            "birdwatcher",
            vec![],
            None,
            birdwatcher_ok("protocols"),
            &[],
        ),
        Operation::BirdwatcherProtocolsShort => d(
            "birdwatcher /protocols/short",
            "birdwatcher",
            vec![],
            None,
            birdwatcher_ok("protocols"),
            &[],
        ),
        Operation::BirdwatcherRoutesProtocol => d(
            "birdwatcher /routes/protocol/{id}: accepted routes of a client",
            "birdwatcher",
            vec![path_param(
                "id",
                "Client name",
                json!({ "type": "string", "minLength": 1 }),
            )],
            None,
            birdwatcher_ok("routes"),
            NOT_FOUND,
        ),
        Operation::BirdwatcherRoutesFiltered => d(
            "birdwatcher /routes/filtered/{id}: filtered routes of a client",
            "birdwatcher",
            vec![path_param(
                "id",
                "Client name",
                json!({ "type": "string", "minLength": 1 }),
            )],
            None,
            birdwatcher_ok("routes"),
            NOT_FOUND,
        ),
        Operation::BirdwatcherRoutesNoExport => d(
            "birdwatcher /routes/noexport/{id}: best paths not exported to a client",
            "birdwatcher",
            vec![path_param(
                "id",
                "Client name",
                json!({ "type": "string", "minLength": 1 }),
            )],
            None,
            birdwatcher_ok("routes"),
            NOT_FOUND,
        ),
        Operation::BirdwatcherRoutesPrefix => d(
            "birdwatcher /routes/prefix?prefix=: every path for a prefix",
            "birdwatcher",
            vec![json!({ "name": "prefix", "in": "query", "required": true, "schema": prefix_schema(g) })],
            None,
            birdwatcher_ok("routes"),
            &[("400", "Invalid or missing prefix")],
        ),
    }
}

/// Builds the whole document.
pub fn document() -> Value {
    let mut g = Generators::new();
    let mut paths = Map::new();
    for spec in routes() {
        let op = spec.operation;
        let d = doc(op, &mut g);
        let mut responses = Map::new();
        responses.insert("200".into(), d.ok);
        for (code, why) in d.errors {
            responses.insert((*code).into(), error_response(&mut g, why));
        }
        responses.insert("500".into(), error_response(&mut g, "Internal error"));
        let mut operation = Map::new();
        operation.insert("operationId".into(), op.id().into());
        operation.insert("summary".into(), d.summary.into());
        operation.insert("tags".into(), json!([d.tag]));
        if !d.parameters.is_empty() {
            operation.insert("parameters".into(), Value::Array(d.parameters));
            responses
                .entry("400")
                .or_insert_with(|| error_response(&mut g, "Invalid parameter"));
        }
        if let Some(body) = d.request {
            operation.insert("requestBody".into(), body);
            responses
                .entry("400")
                .or_insert_with(|| error_response(&mut g, "Malformed body"));
            responses.insert("413".into(), error_response(&mut g, "Body too large"));
            responses.insert("415".into(), error_response(&mut g, "Unsupported Content-Type"));
        }
        if op.is_mutation() {
            operation.insert("security".into(), json!([{ "bearer": [] }]));
            responses.insert(
                "401".into(),
                error_response(&mut g, "Missing or wrong bearer token"),
            );
            responses.insert("403".into(), error_response(&mut g, "No admin token configured"));
            responses
                .entry("503")
                .or_insert_with(|| error_response(&mut g, "Daemon not available"));
        }
        operation.insert("responses".into(), Value::Object(responses));
        let item = paths
            .entry(spec.path)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(
                spec.method.as_str().to_ascii_lowercase(),
                Value::Object(operation),
            );
        }
    }
    let mut schemas = g.request.take_definitions(true);
    // Response definitions win on a name clash; the shared types (Prefix,
    // Community, ...) are identical in both.
    schemas.extend(g.response.take_definitions(true));
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "kumo admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Admin API of the kumo BGP route server. Reads are open; mutations need \
                            `Authorization: Bearer <token>`. Errors are `{\"error\": \"...\"}`.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_route_with_its_method() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        for spec in routes() {
            let op = &doc["paths"][spec.path][spec.method.as_str().to_ascii_lowercase()];
            assert_eq!(
                op["operationId"],
                spec.operation.id(),
                "{} {}",
                spec.method,
                spec.path
            );
            assert!(op["responses"]["200"].is_object(), "{}", spec.path);
            assert_eq!(
                op["security"].is_array(),
                spec.operation.is_mutation(),
                "{}",
                spec.path
            );
        }
    }

    #[test]
    fn every_ref_resolves() {
        let doc = document();
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(refs.len() > 20, "expected many $refs, got {}", refs.len());
        for r in refs {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("odd ref {r}"));
            assert!(doc["components"]["schemas"][name].is_object(), "dangling {r}");
        }
    }

    #[test]
    fn request_schema_does_not_require_optional_fields() {
        let doc = document();
        let req = &doc["components"]["schemas"]["OriginateRequest"]["required"];
        let req: Vec<&str> = req
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(req, vec!["prefix", "next_hop"]);
    }

    fn collect_refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if k == "$ref" {
                        out.extend(v.as_str().map(str::to_owned));
                    } else {
                        collect_refs(v, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }
}
