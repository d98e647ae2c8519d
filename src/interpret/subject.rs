//! Subjects: reply/forward prefixes in many languages, and the ticket tag `[REQ #123]`.

use std::sync::LazyLock;

use regex::Regex;

use crate::ticket::TicketId;

/// Reply and forward prefixes as mail clients write them, in the languages we meet:
/// Re, Fwd, AW/WG (German), SV/VS (Nordic), Antw/Doorst (Dutch), Réf/TR (French),
/// RV/RES/ENC (Spanish/Portuguese), R/I/RIF (Italian), Odp/PD (Polish), YNT/İLT
/// (Turkish), Отв/Пересл (Russian), ΑΠ/ΣΧΕΤ/ΠΡΘ (Greek), 回复/答复/转发/回覆/轉寄 (Chinese),
/// with optional counters (`Re[2]:`, `Re(3):`, `Re^2:`) and a full-width colon.
static PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^\s*(?:
            re|fwd?|aw|wg|sv|vs|vb|fs|antw|antwort|doorst|réf\.?|ref\.?|tr|rv|res|enc|r|i|rif|odp|pd|ynt|ilt|İlt
            |отв|ответ|пересл|fw|ΑΠ|ΣΧΕΤ|ΠΡΘ|Απ|Σχετ|Πρθ|vá|továbbítás|vl|välitä|vast
            |回复|答复|转发|回覆|答覆|轉寄|转|返信|転送
        )\s*(?:\[[0-9]{1,4}\]|\([0-9]{1,4}\)|\^[0-9]{1,4})?\s*[:：]",
    )
    .expect("prefix pattern is valid")
});

/// Removes any number of leading reply/forward prefixes (and leftover blanks).
pub fn strip_prefixes(subject: &str) -> &str {
    let mut rest = subject.trim();
    // Each round removes at least one character, so this ends; the cap bounds hostile input.
    for _ in 0..64 {
        match PREFIX.find(rest) {
            Some(found) => rest = rest[found.end()..].trim_start(),
            None => break,
        }
    }
    rest
}

/// The compiled subject tag, e.g. `[REQ #123]` for tag word `REQ`.
#[derive(Debug, Clone)]
pub struct SubjectTag {
    word: String,
    pattern: Regex,
}

impl SubjectTag {
    pub fn new(word: &str) -> SubjectTag {
        let pattern = Regex::new(&format!(r"(?i)\[\s*{}\s*#\s*([0-9]{{1,18}})\s*\]", regex::escape(word)))
            .expect("an escaped word makes a valid pattern");
        SubjectTag { word: word.to_string(), pattern }
    }

    /// The ticket number named by the first tag in `subject`.
    pub fn find(&self, subject: &str) -> Option<TicketId> {
        let captures = self.pattern.captures(subject)?;
        captures[1].parse().ok().map(TicketId)
    }

    /// `subject` with every tag of ours removed, prefixes stripped: the ticket's own subject.
    pub fn clean(&self, subject: &str) -> String {
        let without_tags = self.pattern.replace_all(subject, " ");
        let stripped = strip_prefixes(&without_tags);
        crate::parse::one_line(stripped)
    }

    /// The subject of mail about `ticket`.
    pub fn subject_for(&self, ticket: TicketId, ticket_subject: &str) -> String {
        format!("[{} #{}] {}", self.word, ticket, ticket_subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_in_many_languages_are_removed() {
        for subject in [
            "Re: Printer", "RE: Printer", "Re[2]: Printer", "Re(3): Printer", "AW: WG: Printer", "SV: Printer",
            "Antw: Printer", "Réf. : Printer", "RÉF : Printer", "TR: Printer", "Fwd: Re: Printer", "FW: Printer",
            "回复: Printer", "答复：Printer", "转发: Printer", "Отв: Printer", "RV: Printer", "Odp: Printer",
            "VS: Printer", "YNT: Printer", "  re :  Printer",
        ] {
            assert_eq!(strip_prefixes(subject), "Printer", "{subject}");
        }
        assert_eq!(strip_prefixes("Regarding: Printer"), "Regarding: Printer");
        assert_eq!(strip_prefixes("Reset password"), "Reset password");
    }

    #[test]
    fn tags_are_found_behind_any_prefix() {
        let tag = SubjectTag::new("REQ");
        for subject in [
            "[REQ #123] Printer", "Re: [REQ #123] Printer", "AW: WG: [req #123] Printer", "回复: [REQ #123] Printer",
            "Printer [REQ#123]", "RE: RE: Fwd: [ REQ # 123 ] Printer",
        ] {
            assert_eq!(tag.find(subject), Some(TicketId(123)), "{subject}");
        }
        assert_eq!(tag.find("[OTHER #123] Printer"), None);
        assert_eq!(tag.find("REQ 123"), None);
        assert_eq!(tag.clean("Re: [REQ #123] Printer"), "Printer");
    }
}
