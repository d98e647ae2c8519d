//! The check boxes of the resolution mail (DESIGN §2): which one the customer marked.
//!
//! A box is `[` + a mark + `]` followed by its label. Marks are `X x * ✓ ✔ ☑` (any
//! non-blank character in the brackets counts), and the line may carry any quoting in
//! front (`> `, `>> `, `| `, blanks), as Gmail, Outlook, Apple Mail, Thunderbird and
//! mobile clients quote. The label's first word tells which box it is, in the
//! languages of the templates. Scanning is line by line, linear in the input.

/// What a reply says about the resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Exactly the "yes, solved" box is marked.
    Approve,
    /// Exactly the "no, not solved" box is marked, or the text clearly says it is not solved.
    Deny,
    /// No box marked, or both.
    Unclear,
}

/// First words of the "yes" box's label, per language.
const YES_WORDS: &[&str] = &["yes", "ja", "oui", "sí", "si"];
/// First words of the "no" box's label, per language.
const NO_WORDS: &[&str] = &["no", "nein", "non"];

/// Longest line examined; box lines are short.
const MAX_LINE_CHARS: usize = 400;

/// A marked box's kind, if `line` is one.
fn marked_box(line: &str) -> Option<bool> {
    if line.chars().count() > MAX_LINE_CHARS {
        return None;
    }
    let unquoted = line.trim_start_matches(|c: char| c == '>' || c == '|' || c.is_whitespace());
    let inside_and_rest = unquoted.strip_prefix('[')?;
    let close = inside_and_rest.find(']')?;
    let inside = inside_and_rest[..close].trim();
    if inside.is_empty() || inside.chars().count() > 3 {
        return None;
    }
    let label = inside_and_rest[close + 1..].trim_start();
    let first_word: String =
        label.chars().take_while(|c| c.is_alphabetic()).collect::<String>().to_lowercase();
    if YES_WORDS.contains(&first_word.as_str()) {
        Some(true)
    } else if NO_WORDS.contains(&first_word.as_str()) {
        Some(false)
    } else {
        None
    }
}

/// Reads the answer in `text`. `denial_phrases` are lower-case phrases that, without any
/// marked box, clearly say the problem is not solved.
pub fn read_answer(text: &str, denial_phrases: &[String]) -> Answer {
    let mut yes = false;
    let mut no = false;
    // The sender's own words: not quoted, not a box line (our box labels say "not solved").
    let mut own_words = String::new();
    for line in text.lines() {
        match marked_box(line) {
            Some(true) => yes = true,
            Some(false) => no = true,
            None => {
                let trimmed = line.trim_start();
                if !trimmed.starts_with('>') && !trimmed.starts_with('|') && !trimmed.starts_with('[') {
                    own_words.push_str(&line.to_lowercase());
                    own_words.push('\n');
                }
            }
        }
    }
    match (yes, no) {
        (true, false) => Answer::Approve,
        (false, true) => Answer::Deny,
        (true, true) => Answer::Unclear,
        (false, false) => {
            if denial_phrases.iter().any(|phrase| !phrase.is_empty() && own_words.contains(phrase.as_str())) {
                Answer::Deny
            } else {
                Answer::Unclear
            }
        }
    }
}

/// The mark of a satisfaction survey answer: which of the boxes `[ ] 1` … `[ ] 5` is marked.
pub fn read_rating(text: &str) -> Option<u8> {
    let mut found = None;
    for line in text.lines().filter(|line| line.chars().count() <= MAX_LINE_CHARS) {
        let unquoted = line.trim_start_matches(|c: char| c == '>' || c == '|' || c.is_whitespace());
        let Some(rest) = unquoted.strip_prefix('[') else { continue };
        let Some(close) = rest.find(']') else { continue };
        let inside = rest[..close].trim();
        if inside.is_empty() || inside.chars().count() > 3 {
            continue;
        }
        let digit = rest[close + 1..].trim_start().chars().next().and_then(|c| c.to_digit(10));
        if let Some(rating @ 1..=5) = digit {
            if found.is_some() {
                return None;
            }
            found = Some(rating as u8);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Answer) {
        let phrases = vec!["not solved".to_string(), "still broken".to_string(), "nicht gelöst".to_string()];
        assert_eq!(read_answer(text, &phrases), expected, "{text:?}");
    }

    #[test]
    fn boxes_in_every_style() {
        use Answer::*;
        check("[X] Yes, it is solved - close the request\n[ ] No, it is not solved - reopen the request", Approve);
        check("  [ ] Yes, it is solved\n  [x] No, it is not solved", Deny);
        check("> [X] Yes, it is solved - close the request\n> [ ] No", Approve);
        check(">> [*] Yes\n>> [ ] No", Approve);
        check("| [✓] Yes\n| [ ] No", Approve);
        check("[✔] Ja, gelöst - Anfrage schließen\n[ ] Nein", Approve);
        check("[ ] Yes\n[ X ] No", Deny);
        check("[☑] Oui, résolu\n[ ] Non", Approve);
        check("Thanks!\n\nOn Mon, Help Desk wrote:\n> [X] Yes, it is solved\n> [ ] No, it is not solved", Approve);
        check("[X] Yes\n[X] No", Unclear);
        check("[ ] Yes\n[ ] No", Unclear);
        check("Thanks, works now.", Unclear);
        check("Sorry, it is still broken.", Deny);
        check("[X] Yesterday it broke again", Unclear);
        check("[ ] Yes\n[ ] No\nThe printer is still broken.", Deny);
        check("Thanks!\n> [ ] Yes, it is solved\n> [ ] No, it is not solved - reopen", Unclear);
    }

    #[test]
    fn ratings() {
        assert_eq!(read_rating("> [ ] 1 poor\n> [X] 4\n> [ ] 5 excellent"), Some(4));
        assert_eq!(read_rating("[x] 1\n[x] 5"), None);
        assert_eq!(read_rating("no boxes"), None);
    }
}
