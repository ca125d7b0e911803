//! Loading the policy modules a configuration names.
//!
//! Every `[policies.NAME]` table is compiled and validated (world, exports,
//! `init` with its configuration, `self-test`); built-in modules that chains
//! name without a table are loaded with default limits; every chain entry must
//! name a loaded module. All problems are reported at once, each with the key
//! it is about, so `kumo check` and start-up refuse a bad file precisely.

use std::sync::Arc;
use std::time::Duration;

use kumo_config::{Config, PolicyConfig};
use kumo_policy::{
    Compiler, EngineOptions, Limits, PolicyEngine, PolicyError, PolicyModule, PolicyRegistry, RouteData,
    StaticHoldModule, builtin,
};

/// The engine and the loaded modules.
#[derive(Debug, Clone)]
pub struct LoadedPolicies {
    pub engine: PolicyEngine,
    pub registry: Arc<PolicyRegistry>,
    /// Decides whether a lost session's routes are held.
    pub static_hold: Option<Arc<StaticHoldModule>>,
}

/// The built-in static-hold module's configuration when the file names none:
/// hold for the whole declared window, GR or not.
fn default_static_hold_config() -> serde_json::Value {
    serde_json::json!({"hold_on_gr": true, "max_seconds": 604_800})
}

/// Why the configuration's policies could not be loaded: every problem, with
/// the configuration key it is about.
#[derive(Debug, thiserror::Error)]
#[error("{}", render(.problems))]
pub struct PolicyLoadError {
    pub problems: Vec<(String, String)>,
}

fn render(problems: &[(String, String)]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|(key, msg)| format!("{key}: {msg}"))
        .collect();
    lines.join("\n")
}

/// The limits `[policies.NAME]` sets, over the engine defaults.
pub fn limits(policy: Option<&PolicyConfig>) -> Limits {
    let mut limits = Limits::default();
    if let Some(policy) = policy {
        if let Some(ms) = policy.deadline_ms {
            limits.deadline = Duration::from_millis(ms);
        }
        if let Some(bytes) = policy.max_memory {
            limits.max_memory = usize::try_from(bytes).unwrap_or(usize::MAX);
        }
    }
    limits
}

/// The module's configuration table as the JSON its `init` receives.
pub fn module_config(policy: Option<&PolicyConfig>) -> serde_json::Value {
    policy
        .and_then(|p| serde_json::to_value(&p.config).ok())
        .unwrap_or_else(|| serde_json::json!({}))
}

/// Compile every module `config` defines or its chains name, with
/// `compiler`, on a new engine whose modules query `route_data` for IRR and
/// RPKI answers.
pub fn load(
    config: &Config,
    route_data: Arc<dyn RouteData>,
    compiler: Compiler,
) -> Result<LoadedPolicies, PolicyLoadError> {
    let options = EngineOptions {
        route_data,
        compiler,
        ..EngineOptions::default()
    };
    let engine = PolicyEngine::new(options).map_err(|e| PolicyLoadError {
        problems: vec![("policies".into(), e.to_string())],
    })?;
    load_with(&engine, config)
}

/// [`load`] on an existing engine.
pub fn load_with(engine: &PolicyEngine, config: &Config) -> Result<LoadedPolicies, PolicyLoadError> {
    let mut problems = Vec::new();
    let mut modules = Vec::new();
    let hold_name = config.server.static_hold.as_deref().unwrap_or("static-hold");
    let static_hold = {
        let table = config.policies.get(hold_name);
        let key = match table {
            Some(_) => format!("policies.{hold_name}"),
            None => "server.static_hold".to_owned(),
        };
        let json = match table {
            Some(_) => module_config(table),
            None => default_static_hold_config(),
        };
        match source(config, hold_name, table) {
            Ok(wasm) => match StaticHoldModule::load(engine, hold_name, &wasm, limits(table), json) {
                Ok(module) => Some(Arc::new(module)),
                Err(e) => {
                    problems.push((key, load_message(&e)));
                    None
                }
            },
            Err((at, message)) => {
                problems.push((format!("{key}{at}"), message));
                None
            }
        }
    };

    // Names the chains use that have no table: built-ins with defaults.
    let mut names: Vec<&str> = config
        .policies
        .keys()
        .map(String::as_str)
        .filter(|n| *n != hold_name)
        .collect();
    for client in &config.clients {
        for name in client.import.iter().chain(&client.export) {
            if !names.contains(&name.as_str()) && name != hold_name && builtin::get(name).is_some() {
                names.push(name);
            }
        }
    }

    for name in names {
        let table = config.policies.get(name);
        let key = format!("policies.{name}");
        let wasm: Vec<u8> = match source(config, name, table) {
            Ok(bytes) => bytes,
            Err((at, message)) => {
                problems.push((format!("{key}{at}"), message));
                continue;
            }
        };
        match PolicyModule::load(engine, name, &wasm, limits(table), module_config(table)) {
            Ok(module) => modules.push(Arc::new(module)),
            Err(e) => problems.push((key, load_message(&e))),
        }
    }

    let loaded: Vec<&str> = modules.iter().map(|m| m.name()).collect();
    for (i, client) in config.clients.iter().enumerate() {
        for (chain, names) in [("import", &client.import), ("export", &client.export)] {
            for (j, name) in names.iter().enumerate() {
                if loaded.contains(&name.as_str()) || config.policies.contains_key(name) {
                    continue; // loaded, or its table's problem is already reported
                }
                problems.push((
                    format!("clients[{i}].{chain}[{j}]"),
                    format!(
                        "client \"{}\" names policy \"{name}\", which is neither defined in [policies] nor \
                         built in (built in: {})",
                        client.name,
                        builtin::NAMES.join(", ")
                    ),
                ));
            }
        }
    }

    if problems.is_empty() {
        Ok(LoadedPolicies {
            engine: engine.clone(),
            registry: Arc::new(PolicyRegistry::new(modules)),
            static_hold,
        })
    } else {
        Err(PolicyLoadError { problems })
    }
}

/// The component bytes for `name`: its file, or the built-in it names.
pub(crate) fn source(
    config: &Config,
    name: &str,
    table: Option<&PolicyConfig>,
) -> Result<Vec<u8>, (String, String)> {
    let builtin_name = match table {
        Some(PolicyConfig { path: Some(path), .. }) => {
            let file = config.resolve(path);
            return std::fs::read(&file)
                .map_err(|e| (".path".into(), format!("cannot read {}: {e}", file.display())));
        }
        Some(PolicyConfig {
            builtin: Some(builtin),
            ..
        }) => (builtin.as_str(), ".builtin"),
        _ => (name, ""),
    };
    match builtin::get(builtin_name.0) {
        Some(bytes) => Ok(bytes.to_vec()),
        None if builtin_name.1.is_empty() => Err((
            String::new(),
            format!(
                "give `path` (a .wasm component) or `builtin` (one of: {}); \"{name}\" is not built in",
                builtin::NAMES.join(", ")
            ),
        )),
        None => Err((
            builtin_name.1.into(),
            format!(
                "\"{}\" is not a built-in module (built in: {})",
                builtin_name.0,
                builtin::NAMES.join(", ")
            ),
        )),
    }
}

/// The loader's message without the module name the key already gives.
fn load_message(e: &PolicyError) -> String {
    let text = e.to_string();
    match text.split_once(": ") {
        Some((head, rest)) if head.starts_with("policy module") => rest.to_owned(),
        _ => text,
    }
}
