//! Handlebars templates: built in from `templates/`, each replaceable by a file of the
//! same name in the configured `templates.dir`. Compiled once when loading.

use std::path::Path;

use anyhow::Context as _;
use handlebars::Handlebars;
use serde::Serialize;

/// The templates reqmail ships, by name.
const BUILT_IN: &[(&str, &str)] = &[
    ("receipt", include_str!("../../templates/receipt.hbs")),
    ("update", include_str!("../../templates/update.hbs")),
];

/// The compiled templates.
pub struct Templates {
    registry: Handlebars<'static>,
}

impl Templates {
    /// Compiles the built-in templates, replaced by `override_dir/NAME.hbs` where present.
    pub fn load(override_dir: Option<&Path>) -> anyhow::Result<Templates> {
        let mut registry = Handlebars::new();
        // Mail is plain text: HTML escaping would garble customers' words.
        registry.register_escape_fn(handlebars::no_escape);
        registry.set_strict_mode(false);
        for (name, text) in BUILT_IN {
            let replacement = override_dir.map(|dir| dir.join(format!("{name}.hbs"))).filter(|path| path.exists());
            match replacement {
                Some(path) => {
                    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read template {}", path.display()))?;
                    registry
                        .register_template_string(name, text)
                        .with_context(|| format!("template {} does not compile", path.display()))?;
                }
                None => registry.register_template_string(name, *text).with_context(|| format!("built-in template {name}"))?,
            }
        }
        Ok(Templates { registry })
    }

    pub fn render(&self, name: &str, data: &impl Serialize) -> anyhow::Result<String> {
        self.registry.render(name, data).with_context(|| format!("cannot render template {name}"))
    }
}
