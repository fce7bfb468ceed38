//! The process's compiled rulesets, shared: a policy whose SecLang text and rule files
//! (paths, sizes, modification times) are those of a ruleset already loaded — by another
//! policy, or by the running config during a reload — gets that one, not a copy. A reload
//! that leaves the rules alone costs no recompilation (about a third of a second for CRS)
//! and no second copy of its memory (about 36 MiB for Debian's CRS 3.3.4).
use super::policy::{LoadError, WafSettings};
use forecourt_seclang::ModSecurity;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

#[derive(Default)]
pub struct Engines {
    /// What each loaded ruleset was loaded from, and the ruleset while someone holds it.
    loaded: Mutex<Vec<(String, Weak<ModSecurity>)>>,
}

impl Engines {
    /// The ruleset for `settings`: the one loaded already from the same text and files,
    /// or a new one.
    pub fn get_or_load(&self, name: &str, settings: &WafSettings) -> Result<Arc<ModSecurity>, LoadError> {
        let key = settings.fingerprint();
        {
            let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
            loaded.retain(|(_, engine)| engine.strong_count() > 0);
            if let Some(engine) = loaded.iter().find(|(k, _)| *k == key).and_then(|(_, e)| e.upgrade()) {
                tracing::debug!(waf = name, "WAF rules unchanged: the loaded ruleset is kept");
                return Ok(engine);
            }
        }
        let started = Instant::now();
        // Compiled on a thread of its own: its allocations (tens of MiB of patterns and
        // rules, and as many temporaries freed along the way) then come from that thread's
        // allocator pages, not from the ones the worker serving requests allocates from.
        let engine = Arc::new(
            std::thread::scope(|s| s.spawn(|| settings.load()).join())
                .map_err(|_| LoadError { message: "compiling the WAF rules panicked".into() })??,
        );
        tracing::info!(
            waf = name,
            rules = engine.rule_count(),
            ms = started.elapsed().as_millis() as u64,
            "WAF rules loaded"
        );
        self.loaded.lock().unwrap_or_else(|e| e.into_inner()).push((key, Arc::downgrade(&engine)));
        Ok(engine)
    }
}
