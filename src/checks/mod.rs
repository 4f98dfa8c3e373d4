//! The checks, one rule family per file, and the one place that builds them.
//!
//! Adding a check: its module (with its config section in `config::model`), and one line in
//! [`REGISTRY`]. Registration order decides nothing: the decisive finding is chosen by rule
//! priority (`engine::rule::priority`), and the checks of a stage run together.

use std::path::Path;
use std::sync::Arc;

use crate::config::Config;
use crate::engine::Check;

pub mod antivirus;
pub mod inspect;
pub mod relay;
pub mod size;

/// What a constructor gets: the validated config of the new generation and the directory its
/// relative paths are resolved against. Services that outlive a reload (the state store, the
/// resolver) will be handed here too.
pub struct BuildContext<'a> {
    pub config: &'a Config,
    pub base: &'a Path,
    /// Valid but questionable settings, for the start-up log and `check-config`.
    pub warnings: &'a mut Vec<String>,
}

/// Builds one check for a config generation: `Ok(None)` when its config disables it. A
/// disabled check's config is still validated, so a mistake is reported before it is enabled.
pub type Constructor = fn(&mut BuildContext<'_>) -> Result<Option<Arc<dyn Check>>, String>;

/// Every check locthu has.
pub const REGISTRY: &[Constructor] = &[
    |cx| {
        Ok(Some(Arc::new(size::MessageSize {
            max: cx.config.limits.message_size,
        })))
    },
    |cx| {
        Ok(Some(Arc::new(relay::Relay::new(
            &cx.config.server.internal_domains,
        ))))
    },
    |cx| {
        let av = &cx.config.antivirus;
        let check = antivirus::build(av)?;
        if !av.enabled {
            return Ok(None);
        }
        cx.warnings
            .extend(av.size_gap(cx.config.limits.message_size));
        Ok(Some(check))
    },
    |cx| {
        let check = inspect::build(&cx.config.inspect, cx.base)?;
        Ok(cx.config.inspect.enabled.then_some(check))
    },
];

/// The enabled checks of a generation, and the warnings their construction gave.
pub struct Built {
    pub checks: Vec<Arc<dyn Check>>,
    pub warnings: Vec<String>,
}

/// Builds every enabled check; all construction errors are returned, not only the first.
pub fn build_all(config: &Config, base: &Path) -> Result<Built, Vec<String>> {
    let mut warnings = Vec::new();
    let mut cx = BuildContext {
        config,
        base,
        warnings: &mut warnings,
    };
    let mut checks = Vec::new();
    let mut errors = Vec::new();
    for build in REGISTRY {
        match build(&mut cx) {
            Ok(Some(c)) => checks.push(c),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(Built { checks, warnings })
    } else {
        Err(errors)
    }
}
