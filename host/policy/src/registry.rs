//! [`PolicyRegistry`]: the loaded modules by name, swapped atomically.
//!
//! Readers (the route-server core resolving chains, the admin API listing
//! modules) take a lock-free snapshot; a swap publishes a new map with one
//! pointer store (`ArcSwap`), so no call ever sees half a change. The module
//! a swap replaces is kept for rollback.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::module::PolicyModule;

/// One published state of the registry.
#[derive(Debug, Default)]
pub struct Modules {
    by_name: BTreeMap<String, Arc<PolicyModule>>,
    /// Increases with every swap; chain caches compare it.
    generation: u64,
}

impl Modules {
    /// The module named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<PolicyModule>> {
        self.by_name.get(name)
    }
    /// Every module, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<PolicyModule>> + '_ {
        self.by_name.values()
    }
    /// Number of modules.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }
    /// No modules?
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
    /// The registry generation this state was published as.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// Why a registry change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("no policy module named {0:?} is loaded")]
    Unknown(String),
    #[error("policy module {0:?} has no previous version to roll back to")]
    NoPrevious(String),
}

/// The loaded modules.
#[derive(Debug, Default)]
pub struct PolicyRegistry {
    current: ArcSwap<Modules>,
    /// Replaced versions per name, newest last (bounded).
    previous: Mutex<HashMap<String, Vec<Arc<PolicyModule>>>>,
}

/// Replaced versions kept per module for rollback.
const KEEP_PREVIOUS: usize = 4;

impl PolicyRegistry {
    /// A registry holding `modules` (by their names).
    pub fn new(modules: impl IntoIterator<Item = Arc<PolicyModule>>) -> Self {
        let by_name = modules.into_iter().map(|m| (m.name().to_owned(), m)).collect();
        PolicyRegistry {
            current: ArcSwap::from_pointee(Modules {
                by_name,
                generation: 0,
            }),
            previous: Mutex::default(),
        }
    }

    /// The current state (cheap; hold it for a consistent view).
    pub fn snapshot(&self) -> Arc<Modules> {
        self.current.load_full()
    }

    /// The module named `name` now.
    pub fn get(&self, name: &str) -> Option<Arc<PolicyModule>> {
        self.current.load().get(name).cloned()
    }

    /// Publish `module` under its name, replacing (and keeping for rollback)
    /// the module of that name. Only existing names can be swapped: which
    /// clients use a module is configuration, not an upload.
    pub fn swap(&self, module: Arc<PolicyModule>) -> Result<Arc<PolicyModule>, RegistryError> {
        let name = module.name().to_owned();
        let mut previous = self.previous.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.replace(&name, module)?;
        let kept = previous.entry(name).or_default();
        kept.push(old.clone());
        if kept.len() > KEEP_PREVIOUS {
            kept.remove(0);
        }
        Ok(old)
    }

    /// Return `name` to the module it had before its last swap.
    pub fn rollback(&self, name: &str) -> Result<Arc<PolicyModule>, RegistryError> {
        let mut previous = self.previous.lock().unwrap_or_else(|e| e.into_inner());
        let restored = previous
            .get_mut(name)
            .and_then(Vec::pop)
            .ok_or_else(|| RegistryError::NoPrevious(name.to_owned()))?;
        match self.replace(name, restored.clone()) {
            Ok(_) => Ok(restored),
            Err(e) => {
                previous.entry(name.to_owned()).or_default().push(restored);
                Err(e)
            }
        }
    }

    /// Publish a whole new set of modules (a configuration reload). A module
    /// whose bytes, limits and configuration equal the loaded one's keeps the
    /// loaded instance (its counters and rollback history); a changed one
    /// replaces it and the old one is kept for rollback; names no longer
    /// configured are dropped with their history.
    pub fn replace_all(&self, modules: impl IntoIterator<Item = Arc<PolicyModule>>) {
        let mut previous = self.previous.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.current.load();
        let mut by_name = BTreeMap::new();
        for module in modules {
            let name = module.name().to_owned();
            let kept = match current.get(&name) {
                Some(old)
                    if old.sha256() == module.sha256()
                        && old.limits() == module.limits()
                        && old.config_json() == module.config_json() =>
                {
                    old.clone()
                }
                Some(old) => {
                    let history = previous.entry(name.clone()).or_default();
                    history.push(old.clone());
                    if history.len() > KEEP_PREVIOUS {
                        history.remove(0);
                    }
                    module
                }
                None => module,
            };
            by_name.insert(name, kept);
        }
        previous.retain(|name, _| by_name.contains_key(name));
        self.current.store(Arc::new(Modules {
            by_name,
            generation: current.generation + 1,
        }));
    }

    /// How many earlier versions of `name` can be rolled back to.
    pub fn previous_versions(&self, name: &str) -> usize {
        let previous = self.previous.lock().unwrap_or_else(|e| e.into_inner());
        previous.get(name).map_or(0, Vec::len)
    }

    fn replace(&self, name: &str, module: Arc<PolicyModule>) -> Result<Arc<PolicyModule>, RegistryError> {
        let current = self.current.load();
        let old = current
            .get(name)
            .cloned()
            .ok_or_else(|| RegistryError::Unknown(name.to_owned()))?;
        let mut by_name = current.by_name.clone();
        by_name.insert(name.to_owned(), module);
        // Writers are serialised by the `previous` lock held by both callers.
        self.current.store(Arc::new(Modules {
            by_name,
            generation: current.generation + 1,
        }));
        Ok(old)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{Limits, PolicyEngine, builtin};

    fn load(engine: &PolicyEngine, name: &str, wasm: &[u8]) -> Arc<PolicyModule> {
        Arc::new(PolicyModule::load(engine, name, wasm, Limits::default(), serde_json::json!({})).unwrap())
    }

    #[test]
    fn swap_publishes_and_rollback_restores() {
        let engine = PolicyEngine::new(Default::default()).unwrap();
        let first = load(&engine, "p", builtin::ACCEPT_ALL);
        let registry = PolicyRegistry::new([first.clone()]);
        let before = registry.snapshot();
        assert_eq!(registry.previous_versions("p"), 0);
        assert_eq!(
            registry.rollback("p").unwrap_err(),
            RegistryError::NoPrevious("p".into())
        );

        let second = load(&engine, "p", builtin::RS_IMPORT);
        let old = registry.swap(second.clone()).unwrap();
        assert_eq!(old.id(), first.id());
        assert_eq!(registry.get("p").unwrap().id(), second.id());
        // An earlier snapshot is unaffected; the new one has a new generation.
        assert_eq!(before.get("p").unwrap().id(), first.id());
        assert!(registry.snapshot().generation() > before.generation());
        assert_eq!(registry.previous_versions("p"), 1);

        assert_eq!(registry.rollback("p").unwrap().id(), first.id());
        assert_eq!(registry.get("p").unwrap().id(), first.id());
        assert_eq!(registry.previous_versions("p"), 0);
    }

    #[test]
    fn replace_all_keeps_unchanged_modules_and_history_of_changed_ones() {
        let engine = PolicyEngine::new(Default::default()).unwrap();
        let same = load(&engine, "same", builtin::ACCEPT_ALL);
        let changed = load(&engine, "changed", builtin::ACCEPT_ALL);
        let gone = load(&engine, "gone", builtin::ACCEPT_ALL);
        let registry = PolicyRegistry::new([same.clone(), changed.clone(), gone]);
        registry.replace_all([
            load(&engine, "same", builtin::ACCEPT_ALL),
            load(&engine, "changed", builtin::RS_IMPORT),
            load(&engine, "new", builtin::ACCEPT_ALL),
        ]);
        let now = registry.snapshot();
        assert_eq!(now.get("same").unwrap().id(), same.id());
        assert_ne!(now.get("changed").unwrap().id(), changed.id());
        assert!(now.get("gone").is_none() && now.get("new").is_some());
        assert_eq!(registry.previous_versions("changed"), 1);
        assert_eq!(registry.rollback("changed").unwrap().id(), changed.id());
    }

    #[test]
    fn only_loaded_names_can_be_swapped() {
        let engine = PolicyEngine::new(Default::default()).unwrap();
        let registry = PolicyRegistry::new([]);
        let module = load(&engine, "new", builtin::ACCEPT_ALL);
        assert_eq!(
            registry.swap(module).unwrap_err(),
            RegistryError::Unknown("new".into())
        );
        assert!(registry.snapshot().is_empty());
    }
}
