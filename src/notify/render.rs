//! Handlebars templates, per language: built in from `templates/LANG/NAME.hbs`, each
//! replaceable by `LANG/NAME.hbs` in the configured `templates.dir`. A language that
//! lacks a template falls back to English. Compiled once when loading.

use std::path::Path;
use std::sync::Mutex;

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
    ("en", "vendor_reminder", include_str!("../../templates/en/vendor_reminder.hbs")),
    ("en", "vendor_escalation", include_str!("../../templates/en/vendor_escalation.hbs")),
    ("en", "request_refused", include_str!("../../templates/en/request_refused.hbs")),
    ("de", "receipt", include_str!("../../templates/de/receipt.hbs")),
    ("de", "update", include_str!("../../templates/de/update.hbs")),
    ("de", "refusal", include_str!("../../templates/de/refusal.hbs")),
    ("de", "resolution", include_str!("../../templates/de/resolution.hbs")),
    ("de", "clarification", include_str!("../../templates/de/clarification.hbs")),
    ("de", "closed", include_str!("../../templates/de/closed.hbs")),
    ("de", "reminder", include_str!("../../templates/de/reminder.hbs")),
    ("de", "escalation", include_str!("../../templates/de/escalation.hbs")),
    ("de", "nag", include_str!("../../templates/de/nag.hbs")),
    ("de", "hold_timeout", include_str!("../../templates/de/hold_timeout.hbs")),
    ("de", "survey", include_str!("../../templates/de/survey.hbs")),
    ("de", "rejected", include_str!("../../templates/de/rejected.hbs")),
    ("de", "too_large", include_str!("../../templates/de/too_large.hbs")),
    ("de", "vendor_reminder", include_str!("../../templates/de/vendor_reminder.hbs")),
    ("de", "vendor_escalation", include_str!("../../templates/de/vendor_escalation.hbs")),
    ("de", "request_refused", include_str!("../../templates/de/request_refused.hbs")),
];

/// The built-in templates as (language, name).
pub fn built_in_templates() -> impl Iterator<Item = (&'static str, &'static str)> {
    BUILT_IN.iter().map(|(language, name, _)| (*language, *name))
}

/// The templates: overrides compiled when loading (so a broken one is a configuration
/// error), built-in ones compiled when first used (a short-lived `ingest` uses one or two
/// of them).
pub struct Templates {
    registry: Mutex<Handlebars<'static>>,
}

fn built_in(key: &str) -> Option<&'static str> {
    BUILT_IN.iter().find(|(language, name, _)| key.split_once('/') == Some((language, name))).map(|(_, _, text)| *text)
}

impl Templates {
    /// Compiles the built-in templates, then every `override_dir/LANG/NAME.hbs`: files
    /// with a built-in's name replace it, others (named by rules) are added.
    pub fn load(override_dir: Option<&Path>) -> anyhow::Result<Templates> {
        let mut registry = Handlebars::new();
        // Mail is plain text: HTML escaping would garble customers' words.
        registry.register_escape_fn(handlebars::no_escape);
        let mut templates = Templates { registry: Mutex::new(registry) };
        if let Some(dir) = override_dir {
            templates.add_folder("", dir).with_context(|| format!("templates.dir {}", dir.display()))?;
        }
        Ok(templates)
    }

    /// Whether a template of this name exists in English (every name must).
    pub fn has(&self, name: &str) -> bool {
        self.exists(&format!("{FALLBACK_LANGUAGE}/{name}"))
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Handlebars<'static>> {
        self.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn exists(&self, key: &str) -> bool {
        built_in(key).is_some() || self.registry().has_template(key)
    }

    /// Adds a queue's own templates (`dir/LANG/NAME.hbs`), which win over the global ones
    /// for tickets in that queue.
    pub fn add_queue_templates(&mut self, queue: &str, dir: &Path) -> anyhow::Result<()> {
        self.add_folder(&format!("{queue}:"), dir).with_context(|| format!("queues.{queue}.templates_dir {}", dir.display()))
    }

    /// Compiles the canned replies (`[replies.NAME]`), one template per language given.
    pub fn add_replies(&mut self, replies: &std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>) -> anyhow::Result<()> {
        let registry = self.registry.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (name, texts) in replies {
            for (language, text) in texts {
                registry
                    .register_template_string(&format!("{language}/{}", reply_template(name)), text)
                    .with_context(|| format!("replies.{name}.{language} does not compile"))?;
            }
        }
        Ok(())
    }

    /// Registers every `dir/LANG/NAME.hbs` as `PREFIXLANG/NAME`.
    fn add_folder(&mut self, prefix: &str, dir: &Path) -> anyhow::Result<()> {
        let registry = self.registry.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
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
                registry
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
        let key = candidates.iter().find(|key| self.exists(key)).unwrap_or(&candidates[3]);
        let mut registry = self.registry();
        if !registry.has_template(key) {
            let text = built_in(key).ok_or_else(|| anyhow::anyhow!("there is no template {key}"))?;
            registry.register_template_string(key, text).with_context(|| format!("built-in template {key}"))?;
        }
        registry.render(key, data).with_context(|| format!("cannot render template {key}"))
    }
}

/// The template name of canned reply `name`, apart from the letters' names.
pub fn reply_template(name: &str) -> String {
    format!("replies/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_template_compiles_and_renders() {
        let templates = Templates::load(None).unwrap();
        for (language, name, _) in BUILT_IN {
            let text = templates.render("general", language, name, &serde_json::json!({})).unwrap();
            assert!(!text.trim().is_empty(), "{language}/{name}");
        }
        assert!(templates.has("receipt") && !templates.has("no-such-template"));
    }

    #[test]
    fn every_template_exists_in_every_shipped_language() {
        let languages: std::collections::BTreeSet<&str> = BUILT_IN.iter().map(|(language, _, _)| *language).collect();
        let names: std::collections::BTreeSet<&str> = BUILT_IN.iter().map(|(_, name, _)| *name).collect();
        for language in &languages {
            for name in &names {
                assert!(BUILT_IN.iter().any(|(has_language, has_name, _)| has_language == language && has_name == name), "{language}/{name} is missing");
            }
        }
        let on_disk = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/templates")).unwrap().count();
        assert_eq!(on_disk, languages.len(), "every language folder is shipped");
    }
}
