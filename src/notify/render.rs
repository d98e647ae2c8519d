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
    ("en", "rejected", include_str!("../../templates/en/rejected.hbs")),
    ("en", "too_large", include_str!("../../templates/en/too_large.hbs")),
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
    /// Compiles the built-in templates, then every `override_dir/LANG/NAME.hbs`: files
    /// with a built-in's name replace it, others (named by rules) are added.
    pub fn load(override_dir: Option<&Path>) -> anyhow::Result<Templates> {
        let mut registry = Handlebars::new();
        // Mail is plain text: HTML escaping would garble customers' words.
        registry.register_escape_fn(handlebars::no_escape);
        for (language, name, text) in BUILT_IN {
            registry.register_template_string(&format!("{language}/{name}"), *text).with_context(|| format!("built-in template {language}/{name}"))?;
        }
        let mut templates = Templates { registry };
        if let Some(dir) = override_dir {
            templates.add_folder("", dir).with_context(|| format!("templates.dir {}", dir.display()))?;
        }
        Ok(templates)
    }

    /// Whether a template of this name exists in English (every name must).
    pub fn has(&self, name: &str) -> bool {
        self.registry.has_template(&format!("{FALLBACK_LANGUAGE}/{name}"))
    }

    /// Adds a queue's own templates (`dir/LANG/NAME.hbs`), which win over the global ones
    /// for tickets in that queue.
    pub fn add_queue_templates(&mut self, queue: &str, dir: &Path) -> anyhow::Result<()> {
        self.add_folder(&format!("{queue}:"), dir).with_context(|| format!("queues.{queue}.templates_dir {}", dir.display()))
    }

    /// Registers every `dir/LANG/NAME.hbs` as `PREFIXLANG/NAME`.
    fn add_folder(&mut self, prefix: &str, dir: &Path) -> anyhow::Result<()> {
        for language in std::fs::read_dir(dir).context("cannot list the folder")? {
            let language = language?.path();
            if !language.is_dir() {
                continue;
            }
            let language_name = language.file_name().unwrap_or_default().to_string_lossy().into_owned();
            for file in std::fs::read_dir(&language)? {
                let path = file?.path();
                let Some(name) = path.file_name().and_then(|name| name.to_str()).and_then(|name| name.strip_suffix(".hbs")) else { continue };
                let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read template {}", path.display()))?;
                self.registry
                    .register_template_string(&format!("{prefix}{language_name}/{name}"), text)
                    .with_context(|| format!("template {} does not compile", path.display()))?;
            }
        }
        Ok(())
    }

    /// Renders template `name` for a ticket in `queue`, in `language`: the queue's own
    /// template first, then the global one, then the same in English.
    pub fn render(&self, queue: &str, language: &str, name: &str, data: &impl Serialize) -> anyhow::Result<String> {
        let candidates = [
            format!("{queue}:{language}/{name}"),
            format!("{language}/{name}"),
            format!("{queue}:{FALLBACK_LANGUAGE}/{name}"),
            format!("{FALLBACK_LANGUAGE}/{name}"),
        ];
        let key = candidates.iter().find(|key| self.registry.has_template(key)).unwrap_or(&candidates[3]);
        self.registry.render(key, data).with_context(|| format!("cannot render template {key}"))
    }
}
