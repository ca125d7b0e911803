//! `kumo policy test`: run a policy module over routes from a JSON file and
//! print each verdict, its modifications and reasons.
//!
//! The routes file is a JSON array; each route:
//!
//! ```json
//! [
//!   {"prefix": "198.51.100.0/24", "as_path": [65002, 65010], "next_hop": "192.0.2.2",
//!    "med": 10, "origin": "igp", "communities": ["65002:1"],
//!    "large_communities": ["65002:0:1"]}
//! ]
//! ```
//!
//! Only `prefix` and `as_path` are required; `next_hop` defaults to the
//! client's first address. The routes come from `--client` (a client of
//! `--config`), else from a client made up from the first route: AS = first
//! AS of its path, address = its next hop. With `--config`, the module may
//! also be a `[policies.NAME]` of that file, with its configuration and
//! limits, and every other client of the file is a candidate export target.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use ipnet::IpNet;
use kumo_config::{Config, PolicyConfig};
use kumo_policy::{ClientCtx, ImportResult, POLICY_ERROR_CODE, PolicyEngine, PolicyModule, builtin};
use kumo_rib::PeerId;
use kumo_wire::{AsPath, AsPathSegment, LargeCommunity, Origin, PathAttributes};
use serde::Deserialize;

use crate::pipeline::client_ctx;
use crate::policies;

/// One route of the routes file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestRoute {
    pub prefix: IpNet,
    pub as_path: Vec<u32>,
    #[serde(default)]
    pub next_hop: Option<IpAddr>,
    #[serde(default)]
    pub med: Option<u32>,
    #[serde(default)]
    pub origin: Option<String>,
    #[serde(default)]
    pub communities: Vec<String>,
    #[serde(default)]
    pub large_communities: Vec<String>,
}

/// What `kumo policy test` was asked.
#[derive(Debug)]
pub struct Request {
    pub module: String,
    pub routes: PathBuf,
    pub client: Option<String>,
    pub config: Option<PathBuf>,
}

/// Run the test; `Ok(false)` when a call failed (trap, deadline, memory,
/// malformed answer).
pub fn run(request: &Request, out: &mut impl std::io::Write) -> anyhow::Result<bool> {
    let config = request
        .config
        .as_deref()
        .map(kumo_config::load)
        .transpose()
        .context("--config")?;
    let text = std::fs::read_to_string(&request.routes)
        .with_context(|| format!("cannot read {}", request.routes.display()))?;
    let routes: Vec<TestRoute> = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a routes file", request.routes.display()))?;
    if routes.is_empty() {
        bail!("{}: no routes", request.routes.display());
    }

    // The configuration's IRR files answer the module's IRR look-ups; RPKI
    // is not contacted (every route not-found).
    let route_data = crate::route_data::RouteDataService::new();
    if let Some(config) = &config {
        route_data.set_irr(crate::route_data::load_irr(config).map_err(anyhow::Error::msg)?);
    }
    let engine = PolicyEngine::new(kumo_policy::EngineOptions {
        route_data,
        ..Default::default()
    })?;
    let module = Arc::new(load_module(&engine, &request.module, config.as_ref())?);
    let (clients, source) = clients(config.as_ref(), request.client.as_deref(), &routes[0])?;
    let mut worker = engine.worker();
    worker.set_clients(&clients);
    let targets: Vec<u32> = clients
        .iter()
        .map(|c| c.id)
        .filter(|id| *id != source.id)
        .collect();
    let chain = [module.clone()];
    let mut healthy = true;

    writeln!(out, "module {} (sha256 {})", module.name(), module.sha256())?;
    writeln!(out, "client {} (AS{})", source.name, source.asn)?;
    for (i, route) in routes.iter().enumerate() {
        let attrs = attributes(route, &source).with_context(|| format!("route {i} ({})", route.prefix))?;
        let next_hop = route.next_hop.or(source.addresses.first().copied());
        let verdicts = worker.import(&chain, source.id, &attrs, next_hop, &[route.prefix]);
        let Some(verdict) = verdicts.get(0) else {
            bail!("route {i}: no verdict");
        };
        match verdict {
            ImportResult::Accept {
                modified,
                preference,
                next_hop,
            } => {
                let mut line = format!("{}  accept", route.prefix);
                if let Some(p) = preference {
                    line.push_str(&format!(" preference={p}"));
                }
                if let Some(address) = next_hop {
                    line.push_str(&format!(" next_hop={address}"));
                }
                let after = modified.as_deref().unwrap_or(&attrs);
                line.push_str(&describe_changes(&attrs, after));
                writeln!(out, "{line}")?;
                if !targets.is_empty() {
                    let export = worker.export(&chain, source.id, after, &route.prefix, &targets);
                    healthy &= export.failure.is_none();
                    for (k, id) in targets.iter().enumerate() {
                        let name = clients
                            .iter()
                            .find(|c| c.id == *id)
                            .map_or("?", |c| c.name.as_str());
                        let verdict = if export.receivers.contains(k) {
                            "send"
                        } else {
                            "do not send"
                        };
                        let changes = export
                            .modified_for(k)
                            .map(|m| describe_changes(after, m))
                            .unwrap_or_default();
                        writeln!(out, "    export to {name}: {verdict}{changes}")?;
                    }
                    if let Some(failure) = &export.failure {
                        writeln!(out, "    export failed: {failure}")?;
                    }
                }
            }
            ImportResult::Reject { code, text, policy } => {
                healthy &= *code != POLICY_ERROR_CODE;
                writeln!(
                    out,
                    "{}  reject code={code} \"{text}\" (policy {policy})",
                    route.prefix
                )?;
            }
        }
    }
    let stats = module.stats().snapshot();
    writeln!(
        out,
        "calls {}, traps {}, deadline hits {}, memory hits {}, invalid results {}",
        stats.calls, stats.traps, stats.deadline_hits, stats.memory_hits, stats.invalid_results
    )?;
    Ok(healthy)
}

/// MODULE: a `.wasm` file, a `[policies.NAME]` of `--config`, or a built-in.
fn load_module(engine: &PolicyEngine, module: &str, config: Option<&Config>) -> anyhow::Result<PolicyModule> {
    let table: Option<&PolicyConfig> = config.and_then(|c| c.policies.get(module));
    let path = Path::new(module);
    let (name, wasm) = if module.ends_with(".wasm") || path.is_file() {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(module)
            .to_owned();
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {module}"))?;
        (name, bytes)
    } else if let (Some(config), Some(table)) = (config, table) {
        // The daemon's own resolution of a table (its file or the built-in it names).
        let bytes = policies::source(config, module, Some(table))
            .map_err(|(at, message)| anyhow::anyhow!("policies.{module}{at}: {message}"))?;
        (module.to_owned(), bytes)
    } else if let Some(bytes) = builtin::get(module) {
        (module.to_owned(), bytes.to_vec())
    } else {
        bail!(
            "{module}: not a .wasm file, not a policy of --config, not built in ({})",
            builtin::NAMES.join(", ")
        );
    };
    Ok(PolicyModule::load(
        engine,
        &name,
        &wasm,
        policies::limits(table),
        policies::module_config(table),
    )?)
}

/// The client table and the client the routes come from.
fn clients(
    config: Option<&Config>,
    client: Option<&str>,
    first: &TestRoute,
) -> anyhow::Result<(Vec<ClientCtx>, ClientCtx)> {
    let table: Vec<ClientCtx> = config
        .map(|c| {
            c.clients
                .iter()
                .enumerate()
                .map(|(i, cl)| client_ctx(PeerId(i as u32), cl))
                .collect()
        })
        .unwrap_or_default();
    if let Some(name) = client {
        let source = table
            .iter()
            .find(|c| c.name == name)
            .cloned()
            .with_context(|| format!("--client {name}: no such client in --config"))?;
        return Ok((table, source));
    }
    let Some(&asn) = first.as_path.first() else {
        bail!("the first route has an empty as_path; give --client");
    };
    let source = ClientCtx {
        id: table.len() as u32,
        name: format!("as{asn}"),
        asn,
        addresses: first.next_hop.into_iter().collect(),
        params: serde_json::json!({}),
    };
    let mut table = table;
    table.push(source.clone());
    Ok((table, source))
}

fn attributes(route: &TestRoute, source: &ClientCtx) -> anyhow::Result<PathAttributes> {
    let origin = match route.origin.as_deref() {
        None | Some("igp") => Origin::Igp,
        Some("egp") => Origin::Egp,
        Some("incomplete") => Origin::Incomplete,
        Some(other) => bail!("origin {other:?}: use igp, egp or incomplete"),
    };
    let next_hop = match route.next_hop.or(source.addresses.first().copied()) {
        Some(IpAddr::V4(v4)) => Some(v4),
        Some(IpAddr::V6(_)) | None => None,
    };
    let mut communities = kumo_wire::ThinVec::new();
    for c in &route.communities {
        communities.push(community(c).with_context(|| format!("community {c:?}: use ASN:VALUE"))?);
    }
    let mut large_communities = kumo_wire::ThinVec::new();
    for c in &route.large_communities {
        large_communities.push(large(c).with_context(|| format!("large community {c:?}: use A:B:C"))?);
    }
    Ok(PathAttributes {
        origin: Some(origin),
        as_path: Some(AsPath::from(vec![AsPathSegment::Sequence(route.as_path.clone())])),
        next_hop,
        med: route.med,
        communities,
        large_communities,
        ..Default::default()
    })
}

fn community(text: &str) -> Option<u32> {
    let (a, b) = text.split_once(':')?;
    Some(u32::from(a.parse::<u16>().ok()?) << 16 | u32::from(b.parse::<u16>().ok()?))
}

fn large(text: &str) -> Option<LargeCommunity> {
    let mut parts = text.split(':').map(|p| p.parse::<u32>().ok());
    let c = LargeCommunity {
        global_admin: parts.next()??,
        local_data1: parts.next()??,
        local_data2: parts.next()??,
    };
    parts.next().is_none().then_some(c)
}

/// What a policy changed, as ` (+community 65000:1, -large 1:2:3, path ...)`.
fn describe_changes(before: &PathAttributes, after: &PathAttributes) -> String {
    let mut changes = Vec::new();
    let fmt_c = |c: &u32| format!("{}:{}", c >> 16, c & 0xffff);
    let fmt_l = |c: &LargeCommunity| format!("{}:{}:{}", c.global_admin, c.local_data1, c.local_data2);
    for c in after
        .communities
        .iter()
        .filter(|c| !before.communities.contains(c))
    {
        changes.push(format!("+community {}", fmt_c(c)));
    }
    for c in before
        .communities
        .iter()
        .filter(|c| !after.communities.contains(c))
    {
        changes.push(format!("-community {}", fmt_c(c)));
    }
    for c in after
        .large_communities
        .iter()
        .filter(|c| !before.large_communities.contains(c))
    {
        changes.push(format!("+large {}", fmt_l(c)));
    }
    for c in before
        .large_communities
        .iter()
        .filter(|c| !after.large_communities.contains(c))
    {
        changes.push(format!("-large {}", fmt_l(c)));
    }
    if before.as_path != after.as_path {
        changes.push(format!(
            "as_path {:?}",
            after.as_path.as_ref().map(flat_path).unwrap_or_default()
        ));
    }
    if changes.is_empty() {
        String::new()
    } else {
        format!(" ({})", changes.join(", "))
    }
}

fn flat_path(path: &AsPath) -> Vec<u32> {
    path.asns().collect()
}
