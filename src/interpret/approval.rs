//! The check boxes of the resolution mail (DESIGN §2): which one the reader marked.
//!
//! A mark counts only where the letter we sent to that reader had an empty box: the reply
//! is compared with our letter, so a mark someone else wrote into a note we relayed is
//! never an approval by whoever quotes it. Marks are read the way people type them: any
//! one to three characters in the brackets (`[X]`, `[x]`, `[ X ]`, `[*]`, `[✓]`), a bare
//! mark in place of the brackets (`X Yes`, `☒ Yes`), a mark next to the empty brackets
//! (`[ ] X Yes`), and a line holding only a mark just below or above a box. The line may
//! carry any quoting in front (`> `, `>> `, `| `, blanks). The label's first word tells
//! which box it is, in the languages of the templates. The sender's own words (what is
//! left once quotes, forwarded text and signatures are cut) decide when no box is
//! marked. Scanning is line by line, linear in the input.

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
/// What people type as a mark in place of, inside or next to a box.
const MARKS: &[&str] = &["x", "✓", "✔", "☒", "☑", "⌧", "✗", "✘", "*"];
/// Words that put a sentence in the past ("before your fix it didn't work"): a denial in
/// such a sentence is history, not the answer.
const PAST_MARKERS: &[&str] =
    &["before", "previously", "earlier", "used to", "until", "vorher", "bisher", "avant", "auparavant", "antes"];
/// Words saying it works now; together with a denial the answer is unclear, not "no".
const WORKS_NOW: &[&str] = &[
    "works now",
    "working now",
    "works again",
    "working again",
    "works fine",
    "funktioniert jetzt",
    "funktioniert wieder",
    "fonctionne maintenant",
    "marche maintenant",
    "funciona ahora",
];

/// Longest line examined; box lines are short.
const MAX_LINE_CHARS: usize = 400;

/// A shorter label is taken for a longer one it begins when it is at least this long: a
/// quoting client re-wraps a long label, but a box the reader typed anew says "Yes".
const MIN_REWRAPPED_LABEL_CHARS: usize = 16;

/// One line as far as boxes go.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BoxLine {
    Box(CheckBox),
    /// A line holding only a mark.
    MarkOnly,
    Other,
}

/// A box labelled yes or no, marked or not.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CheckBox {
    yes: bool,
    marked: bool,
    /// The label, lower case, blanks collapsed.
    label: String,
}

impl CheckBox {
    fn new(label: &str, marked: bool) -> Option<CheckBox> {
        let yes = label_kind(label)?;
        let label = label.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
        Some(CheckBox { yes, marked, label })
    }

    /// Whether `self` in a reply is `other` of the letter coming back, quoted or re-wrapped.
    fn returns(&self, other: &CheckBox) -> bool {
        let (shorter, longer) =
            if self.label.len() <= other.label.len() { (&self.label, &other.label) } else { (&other.label, &self.label) };
        self.yes == other.yes
            && self.marked == other.marked
            && (shorter == longer || (shorter.chars().count() >= MIN_REWRAPPED_LABEL_CHARS && longer.starts_with(shorter.as_str())))
    }
}

fn is_mark(token: &str) -> bool {
    MARKS.contains(&token.to_lowercase().as_str())
}

/// Yes (`true`) or no (`false`) when `label`'s first word names a box.
fn label_kind(label: &str) -> Option<bool> {
    let first_word: String = label.trim_start().chars().take_while(|c| c.is_alphabetic()).collect::<String>().to_lowercase();
    if YES_WORDS.contains(&first_word.as_str()) {
        Some(true)
    } else if NO_WORDS.contains(&first_word.as_str()) {
        Some(false)
    } else {
        None
    }
}

/// `rest` without a leading mark and the blank after it, if it starts with one.
fn strip_mark(rest: &str) -> Option<&str> {
    let (token, after) = rest.split_once(char::is_whitespace)?;
    is_mark(token).then_some(after)
}

fn unquoted(line: &str) -> &str {
    line.trim_start_matches(|c: char| c == '>' || c == '|' || c.is_whitespace())
}

fn box_line(line: &str) -> BoxLine {
    if line.chars().count() > MAX_LINE_CHARS {
        return BoxLine::Other;
    }
    let text = unquoted(line).trim_end();
    if is_mark(text) {
        return BoxLine::MarkOnly;
    }
    // `X [ ] Yes`: a mark typed in front of the brackets.
    let (marked_in_front, text) = match strip_mark(text) {
        Some(after) if after.trim_start().starts_with('[') => (true, after.trim_start()),
        _ => (false, text),
    };
    let Some(inside_and_rest) = text.strip_prefix('[') else {
        // `X Yes, it is solved`: a mark in place of the brackets.
        return strip_mark(text).and_then(|label| CheckBox::new(label, true)).map_or(BoxLine::Other, BoxLine::Box);
    };
    let Some(close) = inside_and_rest.find(']') else { return BoxLine::Other };
    let inside = inside_and_rest[..close].trim();
    if inside.chars().count() > 3 {
        return BoxLine::Other;
    }
    let label = inside_and_rest[close + 1..].trim_start();
    // `[ ] X Yes`: a mark typed after the empty brackets.
    let (marked_after, label) = match strip_mark(label) {
        Some(after) if inside.is_empty() && label_kind(after).is_some() => (true, after),
        _ => (false, label),
    };
    CheckBox::new(label, !inside.is_empty() || marked_in_front || marked_after).map_or(BoxLine::Other, BoxLine::Box)
}

/// The boxes of `text`, a mark-only line marking the box just above or below.
fn boxes(text: &str) -> Vec<CheckBox> {
    let mut lines: Vec<BoxLine> = text.lines().map(box_line).collect();
    for index in 0..lines.len() {
        if lines[index] != BoxLine::MarkOnly {
            continue;
        }
        for neighbour in [index.checked_sub(1), Some(index + 1)].into_iter().flatten() {
            if let Some(BoxLine::Box(check_box)) = lines.get_mut(neighbour) {
                check_box.marked = true;
            }
        }
    }
    lines
        .into_iter()
        .filter_map(|line| match line {
            BoxLine::Box(check_box) => Some(check_box),
            _ => None,
        })
        .collect()
}

/// Whether `text` has a marked "yes" box at all: a cheap look before the letter it
/// answers is fetched to tell whether the mark is the reader's.
pub fn marks_yes(text: &str) -> bool {
    boxes(text).iter().any(|check_box| check_box.yes && check_box.marked)
}

/// Whether `letter` asks its reader to mark a box (it has an empty one).
pub fn asks_for_a_mark(letter: &str) -> bool {
    boxes(letter).iter().any(|check_box| !check_box.marked)
}

/// Whether the reply marks a box of kind `yes` that the letter had empty: a mark counts
/// unless it is one of the letter's own marks coming back (each returns once), and only
/// when the letter had an empty box of that kind.
fn marked_by_reader(reply: &[CheckBox], letter: &[CheckBox], yes: bool) -> bool {
    if !letter.iter().any(|check_box| check_box.yes == yes && !check_box.marked) {
        return false;
    }
    let mut returning: Vec<&CheckBox> = letter.iter().filter(|check_box| check_box.marked).collect();
    reply.iter().filter(|check_box| check_box.yes == yes && check_box.marked).any(|mark| {
        match returning.iter().position(|letter_mark| mark.returns(letter_mark)) {
            Some(index) => {
                returning.swap_remove(index);
                false
            }
            None => true,
        }
    })
}

/// Whether the sender's own words clearly say it is not solved.
fn says_not_solved(own_words: &str, denial_phrases: &[String]) -> bool {
    let mut denied = false;
    let mut works_now = false;
    for line in own_words.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('>') || trimmed.starts_with('|') || matches!(box_line(line), BoxLine::Box(_)) {
            continue;
        }
        let lowered = line.to_lowercase();
        works_now |= WORKS_NOW.iter().any(|phrase| lowered.contains(phrase));
        for sentence in lowered.split(['.', '!', '?', ';']) {
            let past = PAST_MARKERS.iter().any(|marker| sentence.contains(marker));
            denied |= !past && denial_phrases.iter().any(|phrase| !phrase.is_empty() && sentence.contains(phrase.as_str()));
        }
    }
    denied && !works_now
}

/// Reads the answer in the reply `text` to `letter`, the letter we sent its reader (no
/// mark counts without one). `denial_phrases` are lower-case phrases that, without any
/// marked box, clearly say the problem is not solved.
pub fn read_answer(text: &str, letter: Option<&str>, denial_phrases: &[String]) -> Answer {
    let reply = boxes(text);
    let letter = letter.map(boxes).unwrap_or_default();
    let yes = marked_by_reader(&reply, &letter, true);
    let no = marked_by_reader(&reply, &letter, false);
    match (yes, no) {
        (true, false) => Answer::Approve,
        (false, true) => Answer::Deny,
        (true, true) => Answer::Unclear,
        (false, false) => {
            if says_not_solved(&super::body::visible_note(text), denial_phrases) {
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

    /// The boxes of our resolution letter, as the template writes them.
    const LETTER: &str = "Is your problem solved? Mark one box with an X and reply to this message:\n\n  [ ] Yes, it is solved - close the request\n  [ ] No, it is not solved - reopen the request\n";

    fn check(text: &str, expected: Answer) {
        check_against(text, LETTER, expected);
    }

    fn check_against(text: &str, letter: &str, expected: Answer) {
        let phrases = vec!["not solved".to_string(), "still broken".to_string(), "nicht gelöst".to_string(), "doesn't work".to_string(), "does not work".to_string()];
        assert_eq!(read_answer(text, Some(letter), &phrases), expected, "{text:?}");
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
    fn the_marks_people_type() {
        use Answer::*;
        check("X Yes, it is solved - close the request", Approve);
        check("x No, it is not solved", Deny);
        check("☒ Yes, it is solved\n☐ No, it is not solved", Approve);
        check("✓ Yes, it is solved", Approve);
        check("> [ ] X Yes, it is solved\n> [ ] No, it is not solved", Approve);
        check("X [ ] Yes, it is solved\n[ ] No", Approve);
        // A mark alone on the line below or above a box.
        check("> [ ] Yes, it is solved - close the request\nX\n>\n> [ ] No, it is not solved", Approve);
        check("> [ ] Yes, it is solved\n>\nx\n> [ ] No, it is not solved", Deny);
        // Between the two boxes it could be either: ask.
        check("> [ ] Yes, it is solved\nX\n> [ ] No, it is not solved", Unclear);
        // Bottom-posted below the quoted letter.
        check("> [ ] Yes, it is solved\n> [ ] No, it is not solved\n\n[X] Yes", Approve);
        // A bare X in prose is no mark.
        check("X marks the spot, yes.", Unclear);
    }

    #[test]
    fn a_mark_counts_only_where_our_letter_had_an_empty_box() {
        use Answer::*;
        // A note we relayed already carried the mark: quoting it back is no approval.
        let relayed = "Mallory wrote:\n[X] Yes, it is solved - close the request\n";
        check_against("Who are you?\n\nOn Mon, Help Desk wrote:\n> Mallory wrote:\n> [X] Yes, it is solved - close the request", relayed, Unclear);
        // The same with our empty boxes in the same letter: the reader's own mark still counts.
        let both = format!("{relayed}\n{LETTER}");
        check_against("> [X] Yes, it is solved\n> [ ] Yes, it is solved\n> [ ] No, it is not solved", &both, Unclear);
        check_against("> [X] Yes, it is solved\n> [X] Yes, it is solved\n> [ ] No, it is not solved", &both, Approve);
        // A mark typed anew is the reader's, even where a relayed note carried a longer one.
        check_against("[X] Yes", &both, Approve);
        // Quoting clients re-wrap a long label; the mark that comes back is still not theirs.
        check_against("> Mallory wrote:\n> [X] Yes, it is solved - close\n> the request\n>\n> [ ] Yes, it is solved - close the request", &both, Unclear);
        // Without a letter to compare with, no mark counts.
        assert_eq!(read_answer("[X] Yes, it is solved", None, &[]), Unclear);
        assert!(asks_for_a_mark(LETTER));
        assert!(!asks_for_a_mark(relayed));
    }

    #[test]
    fn only_the_senders_own_words_deny() {
        use Answer::*;
        // Outlook quotes nothing: the original lies unquoted below a header block.
        check(
            "Thank you!\n\n________________________________\nFrom: Help Desk <help@example.com>\nSent: Monday, November 23, 2026 10:00 AM\nTo: Carol\nSubject: [REQ #1] Printer\n\nThe old driver does not work with the new firmware; I installed the new one.\n\n  [ ] Yes, it is solved\n  [ ] No, it is not solved",
            Unclear,
        );
        check("Works now, thanks! Before your fix it doesn't work at all.", Unclear);
        check("Thanks, but it still doesn't work.", Deny);
        check("Thanks\n\n-----Original Message-----\nFrom: Help Desk\nSent: Monday\nTo: Carol\nSubject: x\n\nIt is not solved yet, we said.", Unclear);
    }

    #[test]
    fn ratings() {
        assert_eq!(read_rating("> [ ] 1 poor\n> [X] 4\n> [ ] 5 excellent"), Some(4));
        assert_eq!(read_rating("[x] 1\n[x] 5"), None);
        assert_eq!(read_rating("no boxes"), None);
    }
}
