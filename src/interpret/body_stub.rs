pub fn visible_note(text: &str) -> String { text.trim().to_string() }
