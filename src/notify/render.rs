//! Handlebars templates, per language: built in from `templates/LANG/NAME.hbs`, each
//! replaceable by `LANG/NAME.hbs` in the configured `templates.dir`. A language that
//! lacks a template falls back to English. Compiled once when loading.

use std::path::Path;

use anyhow::Context as _;
use handlebars::Handlebars;
use serde::Serialize;

/// The language every template exists in.
pub const FALLBACK_LANGUAGE: &str = "en";

/// The templates reqmail ships: (language, name, text).
const BUILT_IN: &[(&str, &str, &str)] = &[
    ("en", "receipt", include_str!("../../templates/en/receipt.hbs")),
    ("en", "update", include_str!("../../templates/en/update.hbs")),
    ("en", "refusal", include_str!("../../templates/en/refusal.hbs")),
    ("en", "resolution", include_str!("../../templates/en/resolution.hbs")),
    ("en", "clarification", include_str!("../../templates/en/clarification.hbs")),
    ("en", "closed", include_str!("../../templates/en/closed.hbs")),
    ("en", "reminder", include_str!("../../templates/en/reminder.hbs")),
    ("en", "escalation", include_str!("../../templates/en/escalation.hbs")),
    ("en", "nag", include_str!("../../templates/en/nag.hbs")),
    ("en", "hold_timeout", include_str!("../../templates/en/hold_timeout.hbs")),
    ("en", "survey", include_str!("../../templates/en/survey.hbs")),
    ("de", "receipt", include_str!("../../templates/de/receipt.hbs")),
    ("de", "update", include_str!("../../templates/de/update.hbs")),
    ("de", "refusal", include_str!("../../templates/de/refusal.hbs")),
    ("de", "resolution", include_str!("../../templates/de/resolution.hbs")),
    ("de", "clarification", include_str!("../../templates/de/clarification.hbs")),
    ("de", "closed", include_str!("../../templates/de/closed.hbs")),
];

/// The compiled templates.
pub struct Templates {
    registry: Handlebars<'static>,
}

impl Templates {
    /// Compiles the built-in templates, replaced by `override_dir/LANG/NAME.hbs` where present.
    pub fn load(override_dir: Option<&Path>) -> anyhow::Result<Templates> {
        let mut registry = Handlebars::new();
        // Mail is plain text: HTML escaping would garble customers' words.
        registry.register_escape_fn(handlebars::no_escape);
        for (language, name, text) in BUILT_IN {
            let key = format!("{language}/{name}");
            let replacement = override_dir.map(|dir| dir.join(format!("{key}.hbs"))).filter(|path| path.exists());
            match replacement {
                Some(path) => {
                    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read template {}", path.display()))?;
                    registry.register_template_string(&key, text).with_context(|| format!("template {} does not compile", path.display()))?;
                }
                None => registry.register_template_string(&key, *text).with_context(|| format!("built-in template {key}"))?,
            }
        }
        Ok(Templates { registry })
    }

    /// Renders template `name` in `language`, or in English when that language lacks it.
    pub fn render(&self, language: &str, name: &str, data: &impl Serialize) -> anyhow::Result<String> {
        let key = format!("{language}/{name}");
        let key = if self.registry.has_template(&key) { key } else { format!("{FALLBACK_LANGUAGE}/{name}") };
        self.registry.render(&key, data).with_context(|| format!("cannot render template {key}"))
    }
}
