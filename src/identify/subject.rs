//! Subjects: reply/forward prefixes in many languages, and the ticket tag `[REQ #123]`.

use crate::ticket::TicketId;

/// Reply and forward prefixes as mail clients write them, in the languages we meet, in
/// lower case: Re, Fwd, AW/WG (German), SV/VS (Nordic), Antw/Doorst (Dutch), Réf/TR
/// (French), RV/RES/ENC (Spanish/Portuguese), R/I/RIF (Italian), Odp/PD (Polish),
/// YNT/İLT (Turkish), Отв/Пересл (Russian), ΑΠ/ΣΧΕΤ/ΠΡΘ (Greek), 回复/答复/转发/回覆/轉寄
/// (Chinese), 返信/転送 (Japanese).
const PREFIX_WORDS: &[&str] = &[
    "re", "fw", "fwd", "aw", "wg", "sv", "vs", "vb", "fs", "antw", "antwort", "doorst", "réf", "ref", "tr", "rv", "res",
    "enc", "r", "i", "rif", "odp", "pd", "ynt", "ilt", "i\u{307}lt", "отв", "ответ", "пересл", "απ", "σχετ", "πρθ", "vá",
    "továbbítás", "vl", "välitä", "vast", "回复", "答复", "转发", "回覆", "答覆", "轉寄", "转", "返信", "転送",
];

/// Longest prefix word, in characters.
const MAX_PREFIX_CHARS: usize = 12;

/// Hand-written rather than a regex: compiling a Unicode-aware pattern costs more than
/// the whole rest of a short-lived `ingest` spends on subjects.
///
/// Matches one prefix at the start of `subject` (after blanks): a word of the list in any
/// case, for Réf/Ref an optional dot, an optional counter (`Re[2]:`, `Re(3):`, `Re^2:`),
/// then a colon, ASCII or full-width. Returns what follows the colon.
fn after_prefix(subject: &str) -> Option<&str> {
    let rest = subject.trim_start();
    let word_end = rest.char_indices().find(|(_, c)| !c.is_alphabetic()).map_or(rest.len(), |(index, _)| index);
    let word = &rest[..word_end];
    if word.is_empty() || word.chars().count() > MAX_PREFIX_CHARS {
        return None;
    }
    let lowered = word.to_lowercase();
    if !PREFIX_WORDS.contains(&lowered.as_str()) {
        return None;
    }
    let mut rest = &rest[word_end..];
    if matches!(lowered.as_str(), "réf" | "ref") {
        rest = rest.strip_prefix('.').unwrap_or(rest);
    }
    rest = rest.trim_start();
    rest = skip_counter(rest);
    rest = rest.trim_start();
    rest.strip_prefix(':').or_else(|| rest.strip_prefix('：'))
}

/// Skips a reply counter `[2]`, `(3)` or `^2` (one to four digits) when there is one.
fn skip_counter(text: &str) -> &str {
    let (digits_from, close) = match text.as_bytes().first() {
        Some(b'[') => (1, Some(b']')),
        Some(b'(') => (1, Some(b')')),
        Some(b'^') => (1, None),
        _ => return text,
    };
    let digits = text.as_bytes()[digits_from..].iter().take_while(|byte| byte.is_ascii_digit()).count();
    if !(1..=4).contains(&digits) {
        return text;
    }
    let after_digits = digits_from + digits;
    match close {
        None => &text[after_digits..],
        Some(close) if text.as_bytes().get(after_digits) == Some(&close) => &text[after_digits + 1..],
        Some(_) => text,
    }
}

/// The forward prefixes among [`PREFIX_WORDS`]: Fwd/Fw, WG, VS/VB/VL/Välitä, Doorst, TR,
/// RV/ENC, I, PD, İLT, Пересл, ΠΡΘ, Továbbítás, 转发/轉寄/转, 転送.
const FORWARD_PREFIX_WORDS: &[&str] = &[
    "fw", "fwd", "wg", "vs", "vb", "vl", "välitä", "doorst", "tr", "rv", "enc", "i", "pd", "ilt", "i\u{307}lt", "пересл",
    "πρθ", "továbbítás", "转发", "轉寄", "转", "転送",
];

/// Whether the first prefix of `subject` is a forward's (`Fwd:`, `WG:`, `TR:` …); a reply
/// to a forward (`Re: Fwd:`) is a reply.
pub fn is_forward(subject: &str) -> bool {
    after_prefix(subject).is_some() && {
        let word: String = subject.trim_start().chars().take_while(|c| c.is_alphabetic()).collect();
        FORWARD_PREFIX_WORDS.contains(&word.to_lowercase().as_str())
    }
}

/// Removes any number of leading reply/forward prefixes (and leftover blanks).
pub fn strip_prefixes(subject: &str) -> &str {
    let mut rest = subject.trim();
    // Each round removes at least one character, so this ends; the cap bounds hostile input.
    for _ in 0..64 {
        match after_prefix(rest) {
            Some(after) => rest = after.trim_start(),
            None => break,
        }
    }
    rest
}

/// The subject tag, e.g. `[REQ #123]` for tag word `REQ`; blanks may surround the word,
/// the `#` and the number, and the word matches in any case.
#[derive(Debug, Clone)]
pub struct SubjectTag {
    word: String,
    lowered_word: String,
}

/// Brackets around a tag, as people and clients type them.
const OPENERS: &[char] = &['[', '(', '{', '［', '（', '【'];
const CLOSERS: &[char] = &[']', ')', '}', '］', '）', '】'];
/// What may stand between the tag word and the number.
const TAG_SEPARATORS: &[char] = &['-', '_', ':'];
const HASHES: &[char] = &['#', '＃', '№'];

/// The value of an ASCII or full-width digit, as a character.
fn ascii_digit(c: char) -> Option<char> {
    match c {
        '0'..='9' => Some(c),
        '０'..='９' => char::from_digit(c as u32 - '０' as u32, 10),
        _ => None,
    }
}

impl SubjectTag {
    pub fn new(word: &str) -> SubjectTag {
        SubjectTag { word: word.to_string(), lowered_word: word.to_lowercase() }
    }

    /// The first tag in `subject` at or after byte `from`: its byte range and ticket number.
    ///
    /// Clients and people damage tags, so this reads them leniently: any case, any of the
    /// brackets `[ ( { ［ （ 【`, a blank, `-`, `_`, `:` or `#`/`＃`/`№` between the word and the
    /// number, full-width digits. Without brackets the number needs its `#` (`REQ #12`), so
    /// that prose ("REQ 2 of the spec") is no tag.
    fn next_tag(&self, subject: &str, from: usize) -> Option<(std::ops::Range<usize>, TicketId)> {
        for (offset, _) in subject[from..].char_indices() {
            let start = from + offset;
            // The word first: it fails at once almost everywhere, which keeps this linear.
            let Some(word_len) = self.word_at(&subject[start..]) else { continue };
            if subject[..start].chars().next_back().is_some_and(char::is_alphanumeric) {
                continue;
            }
            let before = subject[..start].trim_end();
            let opener = before.chars().next_back();
            let bracketed = opener.is_some_and(|c| OPENERS.contains(&c));
            let mut rest = &subject[start + word_len..];
            let mut hashed = false;
            while let Some(c) = rest.chars().next().filter(|&c| c.is_whitespace() || TAG_SEPARATORS.contains(&c) || HASHES.contains(&c)) {
                hashed |= HASHES.contains(&c);
                rest = &rest[c.len_utf8()..];
            }
            if !bracketed && !hashed {
                continue;
            }
            let digits: String = rest.chars().map_while(ascii_digit).take(19).collect();
            if !(1..=18).contains(&digits.len()) {
                continue;
            }
            let Ok(number) = digits.parse() else { continue };
            let mut after = &rest[rest.chars().take(digits.len()).map(char::len_utf8).sum::<usize>()..];
            if after.chars().next().is_some_and(|c| c.is_alphanumeric()) {
                continue;
            }
            let range_start = if bracketed { before.len() - opener.map_or(0, char::len_utf8) } else { start };
            if bracketed {
                let Some(close) = after.trim_start().chars().next().filter(|c| CLOSERS.contains(c)) else { continue };
                after = &after.trim_start()[close.len_utf8()..];
            }
            return Some((range_start..subject.len() - after.len(), TicketId(number)));
        }
        None
    }

    /// The length of the tag word at the start of `text`, in any case, if it is there.
    fn word_at(&self, text: &str) -> Option<usize> {
        let mut chars = text.chars();
        let mut matched = 0;
        for expected in self.lowered_word.chars() {
            let actual = chars.next()?;
            if actual.to_lowercase().ne(std::iter::once(expected)) {
                return None;
            }
            matched += actual.len_utf8();
        }
        Some(matched)
    }

    /// The ticket number named by the first tag in `subject`.
    pub fn find(&self, subject: &str) -> Option<TicketId> {
        self.next_tag(subject, 0).map(|(_, ticket)| ticket)
    }

    /// `subject` with every tag of ours removed, prefixes stripped: the ticket's own subject.
    pub fn clean(&self, subject: &str) -> String {
        let mut without_tags = String::with_capacity(subject.len());
        let mut copied = 0;
        while let Some((range, _)) = self.next_tag(subject, copied) {
            without_tags.push_str(&subject[copied..range.start]);
            without_tags.push(' ');
            copied = range.end;
        }
        without_tags.push_str(&subject[copied..]);
        crate::parse::one_line(strip_prefixes(&without_tags))
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
    fn forwards_are_told_from_replies() {
        for subject in ["Fwd: Printer", "FW: Printer", "WG: Drucker", "TR : Imprimante", "RV: Impresora", "Fwd[2]: x", "転送: x"] {
            assert!(is_forward(subject), "{subject}");
        }
        for subject in ["Re: Fwd: Printer", "AW: WG: Drucker", "Printer", "Fwd printer", "Information: x"] {
            assert!(!is_forward(subject), "{subject}");
        }
    }

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
        assert_eq!(strip_prefixes("Reset: password"), "Reset: password");
        assert_eq!(strip_prefixes("Re^2: Re [12]: ΑΠ: İLT: Printer"), "Printer");
        assert_eq!(strip_prefixes("Re[12345]: Printer"), "Re[12345]: Printer");
        assert_eq!(strip_prefixes("Re(2: Printer"), "Re(2: Printer");
        assert_eq!(strip_prefixes("Re:"), "");
        assert_eq!(strip_prefixes("回复Printer: x"), "回复Printer: x");
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
        assert_eq!(tag.find("[REQ #1234567890123456789] [REQ #7]"), Some(TicketId(7)));
        assert_eq!(tag.find("[[REQ #8]"), Some(TicketId(8)));
        assert_eq!(tag.find("[REQ #9"), None);
        assert_eq!(tag.find("[REQUEST #9]"), None);
        assert_eq!(tag.clean("AW: [REQ #1] Printer [ req#2 ] jam [OTHER #3]"), "Printer jam [OTHER #3]");
        assert_eq!(SubjectTag::new("Hilfe").find("Re: [HILFE #42] Drucker"), Some(TicketId(42)));
    }

    #[test]
    fn damaged_tags_still_name_their_ticket() {
        let tag = SubjectTag::new("REQ");
        for subject in [
            "Re: (REQ #12) Printer", "RE: REQ #12 Printer", "Printer REQ #12", "AW: [REQ-12] Drucker", "回复: [REQ＃12] Printer",
            "Re: [ReQ 12] Printer", "Re: 【REQ #12】 Printer", "Re: [REQ #１２] Printer", "Re: Printer (REQ: 12)",
        ] {
            assert_eq!(tag.find(subject), Some(TicketId(12)), "{subject}");
        }
        for prose in ["REQ 12 of the spec", "FREQ #12", "REQ #12b", "[REQ 12b]", "(REQ 12", "Re: REQ-12 Printer"] {
            assert_eq!(tag.find(prose), None, "{prose}");
        }
        assert_eq!(tag.clean("Re: (REQ #12) Printer"), "Printer");
        assert_eq!(tag.clean("RE: REQ #12 Printer"), "Printer");
        assert_eq!(tag.clean("回复: [REQ＃12] Printer"), "Printer");
    }
}
