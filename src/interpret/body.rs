//! The note of a reply: the words the sender actually wrote, cut out of the plain-text body by
//! removing the quoted earlier message, forwarded/original-message blocks and the signature.
//!
//! The work is line by line: every line is first classified on its own (quote, signature
//! delimiter, "Sent from my iPhone" footer, header line, …), then short multi-line shapes are
//! recognised over bounded windows (wrapped "On … wrote:" attributions, From/Sent/To/Subject
//! header blocks), and finally one top-down pass decides where the sender's text ends and which
//! quote blocks are context worth keeping (inline replies) or history to drop. Every step is
//! linear in the input; no regular expression ever sees more than one line.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::sync::LazyLock;

use regex::Regex;

#[cfg(test)]
mod tests;

/// Returns the part of a reply body the sender wrote: quoted history and signature removed.
/// Never fails; when nothing would remain, returns the trimmed input.
///
/// Line endings are normalised to `\n` (`\r\n` and lone `\r` both count as a line break), also
/// in the fallback. Quotes the sender answers below (inline replies) are kept as context; a
/// quote that only trails the sender's text, or that is the whole previous message above a
/// bottom-posted answer, is removed.
#[must_use]
pub fn visible_note(text: &str) -> String {
    let normalised_text = normalise_line_endings(text);
    let lines: Vec<&str> = normalised_text.split('\n').collect();
    let kinds = classify_lines(&lines);
    let kept_line_indexes = select_note_lines(&lines, &kinds);
    let note = join_kept_lines(&lines, &kinds, &kept_line_indexes);
    let note = without_boilerplate(&note);
    if note.trim().is_empty() {
        normalised_text.trim().to_string()
    } else {
        note.into_owned()
    }
}

// ---------------------------------------------------------------------------------------------
// Limits. They bound the work per line so that adversarial input stays linear, and they encode
// what real attribution and header lines look like (short).
// ---------------------------------------------------------------------------------------------

/// Longer lines are never markers (headers, attributions, footers); they are only text or quote.
const MAX_MARKER_LINE_BYTES: usize = 1000;
/// A wrapped "On … wrote:" attribution spans at most this many lines (blank lines included:
/// some clients put a blank line inside a wrapped attribution).
const MAX_ATTRIBUTION_LINES: usize = 6;
/// A whole attribution, however wrapped, is at most this long.
const MAX_ATTRIBUTION_BYTES: usize = 600;
/// A continuation line of a wrapped attribution may carry a quote mark only when it is this
/// short (`> wrote:` after a broken `<mailto:…>`); longer quoted lines belong to the quote.
const MAX_QUOTED_ATTRIBUTION_CONTINUATION_BYTES: usize = 30;
/// Header blocks tolerate this many non-header lines between two header lines (wrapped values,
/// a blank line between headers in HTML-to-text conversions).
const MAX_HEADER_BLOCK_GAP_LINES: usize = 2;
/// A quoted line this long that is followed by an unquoted fragment and then quoting again was
/// most likely re-wrapped by a client that does not re-quote the overflow.
const MIN_REWRAPPED_QUOTE_LINE_CHARS: usize = 50;
/// A block after a lone em-dash line is a signature only if it is this small.
const MAX_EM_DASH_SIGNATURE_LINES: usize = 6;
const MAX_EM_DASH_SIGNATURE_LINE_CHARS: usize = 80;
/// Mobile footers are short; a long line starting with "Sent from" is prose.
const MAX_FOOTER_WORDS: usize = 12;
const MAX_FOOTER_CHARS: usize = 150;

// ---------------------------------------------------------------------------------------------
// Line classification
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineKind {
    Blank,
    /// Anything the sender may have written.
    Text,
    /// `> …` (any depth), `&gt; …`, or Supercite's `Name> …`.
    Quoted,
    /// Only rule characters (`----`, `====`, `***`, `ᐧ`): neutral, dropped when trailing.
    Decoration,
    /// `-- ` or `--` alone: the standard signature separator.
    SignatureDelimiter,
    /// `____…`: Outlook's rule above a header block, mailing-list footers.
    UnderscoreRule,
    /// `-----Original Message-----`, `---------- Forwarded message ---------`, and localised.
    OriginalMessageMarker,
    /// "Sent from my iPhone", "Get Outlook for Android": the end of what the sender typed.
    StrongFooter,
    /// "Sent with Airmail", "Someone from mobile": dropped on its own, nothing after it.
    WeakFooter,
    /// Part of a From/Sent/To/Subject block (two or more distinct headers together).
    HeaderBlock,
    /// Part of an "On … wrote:" line, possibly wrapped over several lines.
    Attribution,
}

use LineKind::*;

fn normalise_line_endings(text: &str) -> Cow<'_, str> {
    let without_bom = text.strip_prefix('\u{feff}').unwrap_or(text);
    if without_bom.contains('\r') {
        Cow::Owned(without_bom.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(without_bom)
    }
}

fn classify_lines(lines: &[&str]) -> Vec<LineKind> {
    let inside_code_fence = find_lines_inside_code_fences(lines);
    // Lower-casing never adds or removes a line break, so the lines of the lower-cased text
    // line up with the original lines; one allocation instead of one per line.
    let lowered_text = lines.join("\n").to_lowercase();
    // Lower-cased lines exist only where a line can be a marker; fenced code never is one, so
    // giving it none keeps every marker detector away from it.
    let lowered_lines: Vec<Option<&str>> = lowered_text
        .split('\n')
        .zip(lines)
        .zip(&inside_code_fence)
        .map(
            |((lowered, line), &fenced)| {
                if fenced || line.len() > MAX_MARKER_LINE_BYTES {
                    None
                } else {
                    Some(lowered.trim())
                }
            },
        )
        .collect();
    let mut kinds: Vec<LineKind> = lines
        .iter()
        .zip(&lowered_lines)
        .zip(&inside_code_fence)
        .map(|((line, &lowered), &fenced)| if fenced { Text } else { classify_single_line(line, lowered) })
        .collect();
    repair_rewrapped_quote_lines(lines, &mut kinds);
    mark_header_blocks(&lowered_lines, &mut kinds);
    mark_attributions(lines, &lowered_lines, &mut kinds);
    kinds
}

/// Lines strictly between a pair of code fence lines (```` ``` ```` or `~~~`). An unpaired fence protects
/// nothing: otherwise one stray fence would stop every quote below it from being trimmed.
fn find_lines_inside_code_fences(lines: &[&str]) -> Vec<bool> {
    let mut inside = vec![false; lines.len()];
    let mut open_fence: Option<usize> = None;
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            match open_fence.take() {
                Some(opening) => inside[opening + 1..index].iter_mut().for_each(|flag| *flag = true),
                None => open_fence = Some(index),
            }
        }
    }
    inside
}

fn classify_single_line(line: &str, lowered: Option<&str>) -> LineKind {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return Blank;
    }
    if is_quoted_line(line) {
        return Quoted;
    }
    if trimmed == "--" {
        return SignatureDelimiter;
    }
    if trimmed.len() >= 2 && trimmed.chars().all(|c| c == '_') {
        return UnderscoreRule;
    }
    if trimmed.chars().all(is_rule_character) {
        return Decoration;
    }
    let Some(lowered) = lowered else {
        return Text;
    };
    if is_original_message_marker(lowered) {
        return OriginalMessageMarker;
    }
    if DISCLAIMER_OPENINGS.iter().any(|opening| lowered.starts_with(opening)) {
        return StrongFooter;
    }
    match footer_strength(lowered) {
        Some(FooterStrength::Strong) => StrongFooter,
        Some(FooterStrength::Weak) => WeakFooter,
        None => Text,
    }
}

/// Closing words that open a sign-off block, lower case, without the trailing comma. A
/// bilingual closing joins two of them with " / ".
const VALEDICTIONS: &[&str] = &[
    "best regards", "kind regards", "regards", "warm regards", "warmest regards", "with kind regards", "with best regards",
    "best wishes", "best", "thanks", "thank you", "thanks & regards", "thanks and regards", "many thanks", "sincerely",
    "yours sincerely", "sincerely yours", "yours faithfully", "yours truly", "respectfully", "cheers", "all the best",
    "mit freundlichen grüßen", "mit freundlichen grüssen", "freundliche grüße", "freundliche grüsse", "viele grüße",
    "beste grüße", "liebe grüße", "schöne grüße", "herzliche grüße", "gruß", "grüße", "mfg", "lg",
    "cordialement", "bien cordialement", "salutations", "sincères salutations", "bien à vous", "bonne journée", "merci",
    "saludos", "saludos cordiales", "atentamente", "un saludo", "un cordial saludo", "muchas gracias", "gracias",
];
/// A sign-off block is the valediction and at most this many lines below it.
const MAX_SIGN_OFF_LINES: usize = 8;
const MAX_SIGN_OFF_LINE_CHARS: usize = 80;
/// A signature without closing words has at least this many lines: a name alone is the
/// sender's own, "name / title / phone" is a signature.
const MIN_CONTACT_BLOCK_LINES: usize = 3;
/// A name is one to four words, and short.
const MAX_NAME_WORDS: usize = 4;
const MAX_NAME_CHARS: usize = 40;
/// A confidentiality notice is at least this long; a shorter sentence that mentions
/// confidential mail for its recipient is the sender's.
const MIN_CONFIDENTIALITY_NOTICE_CHARS: usize = 120;
/// Disclaimers and banners are long, but never this long: a paragraph beyond it is prose.
const MAX_BOILERPLATE_CHARS: usize = 2000;

/// Whether `line` is contact data of a signature: a phone number, a web address or a mail
/// address.
fn is_contact_line(line: &str) -> bool {
    let lowered = line.to_lowercase();
    lowered.contains("www.") || lowered.contains("http") || lowered.contains('@') || line.chars().filter(char::is_ascii_digit).count() >= 7
}

fn is_valediction(line: &str) -> bool {
    let lowered = line.trim().trim_end_matches([',', '.', '!']).to_lowercase();
    !lowered.is_empty() && lowered.split(" / ").all(|part| VALEDICTIONS.contains(&part.trim()))
}

/// "Jane Doe", "Jean-Luc O'Neill", "John E. Doe, Ph.D.": a short run of capitalised words.
fn is_name_line(line: &str) -> bool {
    let trimmed = line.trim();
    let words: Vec<&str> = trimmed.split_whitespace().collect();
    trimmed.chars().count() <= MAX_NAME_CHARS
        && (1..=MAX_NAME_WORDS).contains(&words.len())
        && words.iter().all(|word| {
            word.chars().next().is_some_and(char::is_uppercase) && word.chars().all(|c| c.is_alphabetic() || matches!(c, '.' | ',' | '-' | '\'' | '’'))
        })
}

/// The note without what mail clients and servers add around the sender's words: an
/// external-sender banner above, and below any mix of legal disclaimers, a sign-off block
/// ("Best regards," / name / title / phone / URL) and a signature without closing words.
fn without_boilerplate(note: &str) -> Cow<'_, str> {
    let mut paragraphs: Vec<&str> = note.split("\n\n").collect();
    while paragraphs.len() > 1 && is_external_sender_banner(paragraphs[0]) {
        paragraphs.remove(0);
    }
    let mut rest = if paragraphs.len() == note.split("\n\n").count() { Cow::Borrowed(note) } else { Cow::Owned(paragraphs.join("\n\n")) };
    // Each round removes something or ends; a disclaimer can follow a signature and the other way round.
    loop {
        let length = rest.len();
        let without_disclaimers = without_trailing_disclaimers(&rest);
        let without_sign_off = without_sign_off_block(&without_disclaimers);
        let without_signature = without_contact_block(&without_sign_off);
        let without_signature = without_ruled_contact_block(&without_signature).into_owned();
        if without_signature.len() == length {
            return rest;
        }
        rest = Cow::Owned(without_signature);
    }
}

fn without_trailing_disclaimers(note: &str) -> Cow<'_, str> {
    let mut end = note.len();
    while let Some(start) = note[..end].rfind("\n\n") {
        if !is_disclaimer(&note[start + 2..end]) {
            break;
        }
        end = start;
    }
    if end == note.len() { Cow::Borrowed(note) } else { Cow::Owned(note[..end].trim_end().to_string()) }
}

/// A legal or confidentiality notice, or a plea not to print: said in whole paragraphs.
fn is_disclaimer(paragraph: &str) -> bool {
    if paragraph.len() > MAX_BOILERPLATE_CHARS {
        return false;
    }
    let lowered = paragraph.to_lowercase();
    let says = |words: &[&str]| words.iter().any(|word| lowered.contains(word));
    let is_confidentiality_notice = lowered.len() >= MIN_CONFIDENTIALITY_NOTICE_CHARS
        && says(&["confidential", "privileged", "vertraulich", "confidentiel", "confidencial"])
        && says(&["intended", "addressee", "recipient", "empfänger", "adressat", "destinataire", "destinatario"]);
    is_confidentiality_notice || says(&["before printing this", "think before you print", "bevor sie diese e-mail ausdrucken"])
}

/// The warning a mail server puts above mail from outside the organisation.
fn is_external_sender_banner(paragraph: &str) -> bool {
    paragraph.len() <= MAX_BOILERPLATE_CHARS && {
        let lowered = paragraph.trim().to_lowercase();
        ["originated from outside", "from an external sender", "this is an external email", "externe e-mail", "e-mail externe"]
            .iter()
            .any(|words| lowered.contains(words))
            || lowered.starts_with("[external]")
    }
}

/// `note` without a trailing sign-off block ("Best regards," / name / title / phone / URL):
/// only when the block is short and carries contact data, so that a plain "Thanks, Ann" stays.
fn without_sign_off_block(note: &str) -> Cow<'_, str> {
    let lines: Vec<&str> = note.trim_end().lines().collect();
    let search_from = lines.len().saturating_sub(MAX_SIGN_OFF_LINES + 1);
    let valediction = (search_from..lines.len()).rev().find(|&index| is_valediction(lines[index]));
    let Some(start) = valediction.filter(|&start| start > 0) else { return Cow::Borrowed(note) };
    let block = &lines[start + 1..];
    let is_signature = block.len() >= 2
        && block.iter().all(|line| line.chars().count() <= MAX_SIGN_OFF_LINE_CHARS && !is_quoted_line(line))
        && block.iter().any(|line| is_contact_line(line));
    if !is_signature {
        return Cow::Borrowed(note);
    }
    Cow::Owned(lines[..start].join("\n").trim_end().to_string())
}

/// A rule of at least this many characters can stand for the signature separator.
const MIN_SIGNATURE_RULE_CHARS: usize = 4;
/// Below such a rule, a signature has at most this many lines.
const MAX_RULED_SIGNATURE_LINES: usize = 12;

/// `note` without a block of contact data under a rule ("----" / logo / name / phone / URL),
/// a signature separator that is not the standard `-- `.
fn without_ruled_contact_block(note: &str) -> Cow<'_, str> {
    let lines: Vec<&str> = note.lines().collect();
    let search_from = lines.len().saturating_sub(2 * MAX_RULED_SIGNATURE_LINES + 1);
    let is_rule = |line: &&str| line.trim().chars().count() >= MIN_SIGNATURE_RULE_CHARS && line.chars().all(is_rule_character);
    let Some(rule) = (search_from..lines.len()).rev().find(|&index| is_rule(&lines[index])) else { return Cow::Borrowed(note) };
    let block: Vec<&str> = lines[rule + 1..].iter().copied().filter(|line| !line.trim().is_empty()).collect();
    let text_above = lines[..rule].iter().any(|line| !line.trim().is_empty());
    let is_signature = text_above
        && (2..=MAX_RULED_SIGNATURE_LINES).contains(&block.len())
        && block.iter().all(|line| line.chars().count() <= MAX_SIGN_OFF_LINE_CHARS && !is_quoted_line(line))
        && block.iter().any(|line| is_contact_line(line));
    if is_signature { Cow::Owned(lines[..rule].join("\n").trim_end().to_string()) } else { Cow::Borrowed(note) }
}

/// `note` without a last paragraph "Name / title / phone / URL" that has no closing words.
fn without_contact_block(note: &str) -> Cow<'_, str> {
    let Some(start) = note.trim_end().rfind("\n\n") else { return Cow::Borrowed(note) };
    let lines: Vec<&str> = note[start + 2..].trim_end().lines().collect();
    let announced = note[..start].trim_end().ends_with([':', '：']);
    let is_signature = !announced
        && (MIN_CONTACT_BLOCK_LINES..=MAX_SIGN_OFF_LINES).contains(&lines.len())
        && is_name_line(lines[0])
        && lines.iter().all(|line| line.chars().count() <= MAX_SIGN_OFF_LINE_CHARS && !is_quoted_line(line))
        && lines.iter().any(|line| is_contact_line(line));
    if is_signature { Cow::Owned(note[..start].trim_end().to_string()) } else { Cow::Borrowed(note) }
}

/// How legal and confidentiality disclaimers begin, lower case: what follows is boilerplate
/// the sender's mail server appended, not their words.
const DISCLAIMER_OPENINGS: &[&str] = &[
    "confidentiality notice",
    "confidentiality note:",
    "disclaimer:",
    "this e-mail and any attachments",
    "this email and any attachments",
    "this e-mail and any files transmitted",
    "this email and any files transmitted",
    "this message and any attachments",
    "this e-mail message is confidential",
    "this email message is confidential",
    "the information contained in this e-mail",
    "the information contained in this email",
    "the information contained in this message",
    "diese e-mail enthält vertrauliche",
    "diese nachricht enthält vertrauliche",
    "ce message et toutes les pièces jointes",
    "ce message et ses pièces jointes",
    "este mensaje y sus anexos",
    "este correo electrónico y sus anexos",
];

pub(super) fn is_rule_character(c: char) -> bool {
    matches!(c, '-' | '_' | '=' | '~' | '+' | '#' | '*' | 'ᐧ' | '—' | '–' | '•' | '·' | '─' | '━' | '═')
        || c.is_whitespace()
}

fn is_quoted_line(line: &str) -> bool {
    let trimmed = line.trim_start();
    if trimmed.starts_with('>') || trimmed.starts_with("&gt;") {
        return true;
    }
    // Supercite ("Richard> text", "C> text"): a short run of letters right before the '>'.
    let letters = trimmed.chars().take_while(char::is_ascii_alphabetic).count();
    if letters == 0 || letters > 12 {
        return false;
    }
    let rest = &trimmed[letters..];
    rest.starts_with('>') && rest[1..].chars().next().is_none_or(|c| c == ' ')
}

/// A quoted line that a client re-wrapped without re-quoting leaves its overflow unquoted
/// between two quoted lines ("> … pharetra d" / "ignissim odio?" / ">"). Such a fragment
/// continues the quote; a sender's inline answer usually starts a new sentence instead.
fn repair_rewrapped_quote_lines(lines: &[&str], kinds: &mut [LineKind]) {
    for index in 1..lines.len().saturating_sub(1) {
        if kinds[index] != Text || kinds[index - 1] != Quoted || kinds[index + 1] != Quoted {
            continue;
        }
        let previous_line = lines[index - 1].trim_end();
        if previous_line.chars().count() < MIN_REWRAPPED_QUOTE_LINE_CHARS {
            continue;
        }
        let Some(first_character) = lines[index].trim_start().chars().next() else {
            continue;
        };
        let previous_ends_mid_word = previous_line.chars().last().is_some_and(char::is_alphanumeric);
        if first_character.is_lowercase() || (!first_character.is_alphabetic() && previous_ends_mid_word) {
            kinds[index] = Quoted;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// "-----Original Message-----" and friends
// ---------------------------------------------------------------------------------------------

/// Words that, between dashes, name the start of an earlier or forwarded message.
const ORIGINAL_MESSAGE_KEYWORDS: &[&str] = &[
    "original",
    "forward",
    "reply message",
    "ursprüngliche nachricht",
    "weitergeleitete nachricht",
    "message d'origine",
    "message d’origine",
    "message transféré",
    "mensaje original",
    "mensaje reenviado",
    "messaggio originale",
    "messaggio inoltrato",
    "oorspronkelijk bericht",
    "origineel bericht",
    "doorgestuurd bericht",
    "ursprungligt meddelande",
    "originalmeddelande",
    "vidarebefordrat meddelande",
    "oprindelig besked",
    "videresendt besked",
    "opprinnelig melding",
    "videresendt melding",
    "mensagem original",
    "mensagem encaminhada",
    "alkuperäinen viesti",
    "välitetty viesti",
    "oryginalna wiadomość",
    "wiadomość przekazana",
    "původní zpráva",
    "eredeti üzenet",
    "исходное сообщение",
    "пересланное сообщение",
    "原始邮件",
    "原始郵件",
    "转发邮件",
    "転送されたメッセージ",
    "元のメッセージ",
];

/// Forward introductions that are not wrapped in dashes.
const UNBRACKETED_FORWARD_MARKERS: &[&str] = &[
    "begin forwarded message:",
    "début du message réexpédié",
    "début du message transféré",
    "anfang der weitergeleiteten nachricht",
    "inicio del mensaje reenviado",
    "inizio messaggio inoltrato",
    "begin doorgestuurd bericht",
    "vidarebefordrat brev",
    "videresendt meddelelse",
    "início da mensagem reencaminhada",
];

pub(super) fn is_original_message_marker(lowered: &str) -> bool {
    let core = lowered.trim_matches(|c: char| c == '*' || c == '_' || c.is_whitespace());
    let starts_like_a_marker = core.starts_with(['-', '=', '—', '–'])
        || UNBRACKETED_FORWARD_MARKERS.iter().any(|marker| core.as_bytes().first() == marker.as_bytes().first());
    if !starts_like_a_marker {
        return false;
    }
    if UNBRACKETED_FORWARD_MARKERS.iter().any(|marker| core.starts_with(marker)) {
        return true;
    }
    let is_dash = |c: char| matches!(c, '-' | '=' | '—' | '–');
    let leading_dashes = core.chars().take_while(|&c| is_dash(c)).count();
    let trailing_dashes = core.chars().rev().take_while(|&c| is_dash(c)).count();
    if leading_dashes < 2 || trailing_dashes < 2 {
        return false;
    }
    let middle = core.trim_matches(is_dash).trim();
    !middle.is_empty()
        && middle.chars().count() <= 60
        && ORIGINAL_MESSAGE_KEYWORDS.iter().any(|keyword| middle.contains(keyword))
}

// ---------------------------------------------------------------------------------------------
// Mobile footers ("Sent from my iPhone")
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FooterStrength {
    /// Ends what the sender typed: everything after it is history or more footer.
    Strong,
    /// Removed as a line, but no reason to cut what follows.
    Weak,
}

/// Words that show a "Sent from …" line names a device or mail app, not a place or a person.
const DEVICE_OR_APP_WORDS: &[&str] = &[
    "iphone",
    "ipad",
    "ipod",
    "android",
    "mobile",
    "mobil",
    "phone",
    "telefon",
    "téléphone",
    "telefono",
    "teléfono",
    "telefoon",
    "smartphone",
    "cell",
    "device",
    "gerät",
    "appareil",
    "dispositivo",
    "apparaat",
    "blackberry",
    "samsung",
    "galaxy",
    "huawei",
    "pixel",
    "nokia",
    "htc",
    "sony",
    "xperia",
    "motorola",
    "moto",
    "oneplus",
    "xiaomi",
    "redmi",
    "oppo",
    "tablet",
    "watch",
    "wiko",
    "alcatel",
    "outlook",
    "mail",
    "yahoo",
    "gmail",
    "aol",
    "airmail",
    "spark",
    "edison",
    "bluemail",
    "k-9",
    "typeapp",
    "mailbox",
    "windows",
    "pc",
    "mac",
    "kindle",
    "surface",
    "lg",
    "handy",
];

/// "Sent from my …" in several languages: the possessive makes a device reading likely.
const SENT_FROM_MY_PREFIXES: &[&str] = &[
    "sent from my ",
    "from my ",
    "envoyé de mon ",
    "envoyé depuis mon ",
    "von meinem ",
    "gesendet von meinem ",
    "gesendet vom ",
    "enviado desde mi ",
    "enviado do meu ",
    "enviado de meu ",
    "enviado de mi ",
    "inviato dal mio ",
    "verzonden vanaf mijn ",
    "verstuurd vanaf mijn ",
    "verzonden van mijn ",
    "skickat från min ",
    "sendt fra min ",
    "lähetetty laitteesta ",
    "wysłane z mojego ",
    "wysłano z mojego ",
    "отправлено с моего ",
    "從我的 ",
    "從我的",
    "从我的",
    "发自我的",
];

/// Footer openings without a possessive: only footers when a device or app is named.
const SENT_FROM_APP_PREFIXES: &[&str] = &[
    "sent from ",
    "sent via ",
    "sent with ",
    "sent using ",
    "sent by ",
    "envoyé depuis ",
    "envoyé de ",
    "envoyé à partir de ",
    "envoyé avec ",
    "gesendet von ",
    "gesendet mit ",
    "diese nachricht wurde von ",
    "enviado desde ",
    "enviado con ",
    "enviado do ",
    "enviado de ",
    "inviato da ",
    "inviato con ",
    "verzonden met ",
    "verzonden vanuit ",
    "verstuurd met ",
    "skickat från ",
    "sendt fra ",
    "lähetetty ",
    "wysłane z ",
    "wysłano z ",
    "отправлено с ",
    "отправлено из ",
];

/// Outlook's own footer, which always ends the typed text.
const GET_OUTLOOK_PREFIXES: &[&str] = &[
    "get outlook for ",
    "download outlook for ",
    "obtenir outlook pour ",
    "télécharger outlook pour ",
    "outlook für ",
    "obtener outlook para ",
    "descargar outlook para ",
    "obter o outlook para ",
    "scarica outlook per ",
    "outlook voor ",
    "hämta outlook för ",
    "få outlook til ",
    "hent outlook til ",
];

fn footer_strength(lowered: &str) -> Option<FooterStrength> {
    if !could_be_a_footer(lowered) {
        return None;
    }
    let plain = strip_links_for_footer_matching(lowered);
    let plain = plain
        .trim_start_matches(|c: char| matches!(c, '(' | '<' | '[' | '*' | '_') || c.is_whitespace())
        .trim_end_matches(|c: char| matches!(c, ')' | '>' | ']' | '*' | '_' | '.' | '!') || c.is_whitespace());
    if plain.is_empty() || plain.chars().count() > MAX_FOOTER_CHARS {
        return None;
    }
    let word_count = plain.split_whitespace().count();
    if word_count > MAX_FOOTER_WORDS {
        return None;
    }
    if GET_OUTLOOK_PREFIXES.iter().any(|prefix| plain.starts_with(prefix)) {
        return Some(FooterStrength::Strong);
    }
    // Japanese iOS: "iPhoneから送信".
    if plain.ends_with("から送信") && word_count <= 3 {
        return Some(FooterStrength::Strong);
    }
    if let Some(remainder) = strip_any_prefix(plain, SENT_FROM_MY_PREFIXES) {
        let first_clause = remainder.split([',', ';', '.', '(', ':']).next().unwrap_or("");
        let sentence_continues = remainder.len() > first_clause.len();
        // "Sent from my desk, is much easier …" is prose; "Sent from my cell, please excuse
        // typos" and "Sent from my TI-85" are footers. A bare "From my …" ("From my side")
        // is a footer only when it names the device.
        let short_enough_to_be_a_footer = !plain.starts_with("from my ") && !sentence_continues && word_count <= 7;
        if names_device_or_app(first_clause) || short_enough_to_be_a_footer {
            return Some(FooterStrength::Strong);
        }
        return None;
    }
    if let Some(remainder) = strip_any_prefix(plain, SENT_FROM_APP_PREFIXES) {
        if names_device_or_app(remainder) {
            return Some(FooterStrength::Strong);
        }
        let looks_like_a_sentence = remainder.contains(", ") || remainder.contains(". ");
        if plain.starts_with("sent ") && word_count <= 7 && !looks_like_a_sentence {
            return Some(FooterStrength::Weak);
        }
        return None;
    }
    // "Nik from mobile", "Sent from mobile" spelled by hand.
    if word_count <= 3 && plain.ends_with(" from mobile") {
        return Some(FooterStrength::Weak);
    }
    None
}

/// The first words of all footer prefixes. Only the first word is compared because a markdown
/// link may split the rest ("Get [Outlook for …](…)").
static FOOTER_FIRST_WORDS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut words: Vec<&'static str> = [GET_OUTLOOK_PREFIXES, SENT_FROM_MY_PREFIXES, SENT_FROM_APP_PREFIXES]
        .iter()
        .flat_map(|prefixes| prefixes.iter())
        .map(|prefix| prefix.split(' ').next().unwrap_or(prefix))
        .collect();
    words.sort_unstable();
    words.dedup();
    words
});

/// A cheap test run on every line so that only likely footers pay for link stripping.
fn could_be_a_footer(lowered: &str) -> bool {
    if lowered.len() > MAX_FOOTER_CHARS * 4 {
        return false;
    }
    let opening = lowered.trim_start_matches(|c: char| matches!(c, '(' | '<' | '[' | '*' | '_') || c.is_whitespace());
    FOOTER_FIRST_WORDS.iter().any(|word| opening.starts_with(word))
        || lowered.contains("から送信")
        || lowered.ends_with(" from mobile")
}

/// Footers often carry a link: "Sent from [Mail](https://…) for Windows", "Get Outlook for
/// iOS<https://aka.ms/…>". Keep the link text, drop the target.
fn strip_links_for_footer_matching(lowered: &str) -> String {
    let mut plain = String::with_capacity(lowered.len());
    let mut characters = lowered.chars().peekable();
    while let Some(c) = characters.next() {
        match c {
            '<' => {
                // Drop "<…>" but keep "<<sent by galaxy>>"-style brackets around words.
                let rest: String = characters.clone().take_while(|&c| c != '>').collect();
                if rest.contains("://") || rest.contains('@') || rest.starts_with("mailto:") {
                    for _ in 0..=rest.chars().count() {
                        characters.next();
                    }
                } else {
                    plain.push(c);
                }
            }
            ']' if characters.peek() == Some(&'(') => {
                for skipped in characters.by_ref() {
                    if skipped == ')' {
                        break;
                    }
                }
            }
            '[' => {}
            _ => plain.push(c),
        }
    }
    plain
}

fn strip_any_prefix<'text>(text: &'text str, prefixes: &[&str]) -> Option<&'text str> {
    prefixes.iter().find_map(|prefix| text.strip_prefix(prefix))
}

fn names_device_or_app(text: &str) -> bool {
    text.split(|c: char| !(c.is_alphanumeric() || c == '-')).filter(|word| !word.is_empty()).any(|word| {
        DEVICE_OR_APP_WORDS.iter().any(|device| {
            word == *device
                    // "iPhone6", "Android-Mobiltelefon", "smartphone."
                    || (device.len() >= 4 && word.contains(device))
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Header blocks: From/Sent/To/Subject (and their translations)
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum HeaderFamily {
    From,
    Date,
    To,
    Subject,
    Copy,
    ReplyTo,
}

fn header_family_for_label(label: &str) -> Option<HeaderFamily> {
    use HeaderFamily::*;
    let family = match label {
        "from" | "von" | "de" | "van" | "från" | "da" | "fra" | "od" | "от" | "lähettäjä" | "发件人" | "寄件者"
        | "寄件人" | "差出人" | "expéditeur" | "remitente" | "mittente" | "afzender" | "avsändare" | "absender"
        | "feladó" | "odesílatel" | "nadawca" => From,
        "sent"
        | "date"
        | "gesendet"
        | "datum"
        | "envoyé"
        | "envoyé le"
        | "verzonden"
        | "verstuurd"
        | "skickat"
        | "inviato"
        | "enviado"
        | "enviada"
        | "enviada em"
        | "enviado em"
        | "enviado el"
        | "fecha"
        | "data"
        | "sendt"
        | "dato"
        | "lähetetty"
        | "päivämäärä"
        | "wysłano"
        | "wysłane"
        | "data wysłania"
        | "отправлено"
        | "дата"
        | "发送时间"
        | "發送時間"
        | "日期"
        | "送信日時"
        | "日付"
        | "message du"
        | "sent at"
        | "elküldve"
        | "dátum"
        | "odesláno" => Date,
        "to" | "an" | "à" | "a" | "aan" | "till" | "para" | "til" | "do" | "кому" | "vastaanottaja" | "收件人"
        | "宛先" | "destinataire" | "destinatario" | "címzett" | "komu" => To,
        "subject" | "betreff" | "objet" | "sujet" | "onderwerp" | "ämne" | "oggetto" | "asunto" | "assunto"
        | "emne" | "aihe" | "temat" | "тема" | "主题" | "主旨" | "件名" | "tárgy" | "předmět" => Subject,
        "cc" | "bcc" | "kopie" | "copie à" | "copie" | "kopia" | "копия" | "抄送" | "kopio" | "másolat" => {
            Copy
        }
        "reply-to" | "reply to" | "antwort an" | "répondre à" | "risposta" | "responder a" | "beantwoorden - aan"
        | "svara till" => ReplyTo,
        _ => return None,
    };
    Some(family)
}

/// The family of a line that starts with a header label: `From: x`, `*Sent:* y`, `De : z`.
pub(super) fn header_family_of_line(lowered: &str) -> Option<HeaderFamily> {
    let without_markup = lowered.trim_start_matches(|c: char| c == '*' || c.is_whitespace());
    let colon = without_markup.find([':', '：'])?;
    if colon > 40 {
        return None;
    }
    let label = without_markup[..colon].trim_matches(|c: char| c == '*' || c.is_whitespace());
    header_family_for_label(label)
}

/// Outlook on the web sometimes flattens the whole block onto one line:
/// "From: x Sent: y To: z Subject: w". Returns how many distinct core families the line names.
fn count_families_in_flattened_header_line(lowered: &str) -> usize {
    let mut families = HeaderFamilySet::default();
    // Bounded: only the first few colons can be labels of a flattened header.
    for (colon_position, _) in lowered.match_indices([':', '：']).take(12) {
        let before = lowered[..colon_position].trim_end_matches(|c: char| c == '*' || c.is_whitespace());
        let mut words = before.rsplit(|c: char| c.is_whitespace() || c == '*').filter(|w| !w.is_empty());
        let last_word = words.next().unwrap_or("");
        let two_words = words.next().map(|w| format!("{w} {last_word}"));
        let family =
            two_words.as_deref().and_then(header_family_for_label).or_else(|| header_family_for_label(last_word));
        if let Some(family) = family {
            families.insert(family);
        }
    }
    families.core_count()
}

#[derive(Default)]
struct HeaderFamilySet {
    from: bool,
    date: bool,
    to: bool,
    subject: bool,
}

impl HeaderFamilySet {
    fn insert(&mut self, family: HeaderFamily) {
        match family {
            HeaderFamily::From => self.from = true,
            HeaderFamily::Date => self.date = true,
            HeaderFamily::To => self.to = true,
            HeaderFamily::Subject => self.subject = true,
            HeaderFamily::Copy | HeaderFamily::ReplyTo => {}
        }
    }

    fn core_count(&self) -> usize {
        [self.from, self.date, self.to, self.subject].iter().filter(|&&present| present).count()
    }

    /// Two distinct headers, one of them saying who or when: "To: x / Subject: y" alone is
    /// too easy to write in prose (a memo), "From:" or "Sent:" together with another is not.
    fn forms_a_header_block(&self) -> bool {
        self.core_count() >= 2 && (self.from || self.date)
    }
}

fn mark_header_blocks(lowered_lines: &[Option<&str>], kinds: &mut [LineKind]) {
    let line_count = kinds.len();
    let families: Vec<Option<HeaderFamily>> = (0..line_count)
        .map(|index| match (&kinds[index], &lowered_lines[index]) {
            (Text, Some(lowered)) => header_family_of_line(lowered),
            _ => None,
        })
        .collect();
    let mut index = 0;
    while index < line_count {
        let Some(first_family) = families[index] else {
            index += 1;
            continue;
        };
        if first_family == HeaderFamily::From {
            let flattened = lowered_lines[index].map_or(0, count_families_in_flattened_header_line);
            if flattened >= 3 {
                kinds[index] = HeaderBlock;
                index += 1;
                continue;
            }
        }
        let mut block_families = HeaderFamilySet::default();
        block_families.insert(first_family);
        let mut last_header_line = index;
        let mut probe = index + 1;
        while probe < line_count && probe - last_header_line <= MAX_HEADER_BLOCK_GAP_LINES + 1 {
            if let Some(family) = families[probe] {
                block_families.insert(family);
                last_header_line = probe;
            } else if !matches!(kinds[probe], Blank | Text) {
                break;
            }
            probe += 1;
        }
        if block_families.forms_a_header_block() {
            kinds[index..=last_header_line].iter_mut().for_each(|kind| *kind = HeaderBlock);
        }
        // Any sub-run of a run that is not a block is not one either, so never rescan it.
        index = last_header_line + 1;
    }
}

// ---------------------------------------------------------------------------------------------
// Attributions: "On Tue, 3 Mar 2026 at 10:00, Name <a@b> wrote:" and translations
// ---------------------------------------------------------------------------------------------

/// Words that open an attribution of the "On <date>, <name> wrote:" shape.
const ATTRIBUTION_OPENERS: &[&str] = &[
    "on ",
    "at ",
    "am ",
    "le ",
    "el ",
    "op ",
    "il ",
    "em ",
    "den ",
    "dnia ",
    "dňa ",
    "w dniu ",
    "dne ",
    "in data ",
    "il giorno ",
    "às ",
    "på ",
    "le jour ",
];

/// Openers written without a following space.
const ATTRIBUTION_OPENERS_WITHOUT_SPACE: &[&str] = &["在", "於", "于"];

/// Verbs that end an attribution ("… wrote:", "… a écrit :", "… 写道：").
const ATTRIBUTION_CLOSING_VERBS: &[&str] = &[
    "wrote",
    "writes",
    "a écrit",
    "a ecrit",
    "escribió",
    "escribio",
    "ha scritto",
    "escreveu",
    "geschrieben",
    "schrieben sie",
    "schrieb",
    "schreef",
    "skrev",
    "skriver",
    "napisał(a)",
    "napisał",
    "napisała",
    "napsal(a)",
    "napsal",
    "napsala",
    "kirjoitti",
    "írta",
    "написал(а)",
    "написал",
    "написала",
    "пише",
    "写道",
    "寫道",
    "のメール",
    "書きました",
    "yazdı",
    "napisao",
    "a scris",
];

/// Verbs that come before the name in some languages ("Am …, schrieb Name <a@b>:",
/// "Op … schreef Name:", "Den … skrev Name:"), so the line ends in a colon instead.
const ATTRIBUTION_VERBS_BEFORE_NAME: &[&str] = &["schrieb", "schreef", "skrev", "kirjoitti"];

/// Name-first shapes that put the date after the verb ("Name <a@b> schrieb am Fr., …:").
const ATTRIBUTION_VERBS_BEFORE_DATE: &[&str] = &["wrote on", "schrieb am", "a écrit le", "escribió el"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AttributionEnding {
    /// Ends with a closing verb, colon optional.
    Verb,
    /// Ends with `<address>:` or `(address):`.
    AddressColon,
    /// Ends with any other colon.
    Colon,
    /// Ends with `<address>` and no colon: "2013/7/20 Name <a@b>".
    Address,
    None,
}

/// What the first line of each attribution shape must carry. Cheap, so it is what decides
/// whether a window is worth walking at all.
struct AttributionStartCues {
    starts_with_opener: bool,
    starts_with_date: bool,
    /// "Name <a@b> …", "Name (a@b) …", "a@b wrote …", "Name via List …": a bare address in
    /// the middle of a sentence ("I asked support@acme.com and they wrote:") does not count.
    starts_by_naming_someone: bool,
}

impl AttributionStartCues {
    fn any(&self) -> bool {
        self.starts_with_opener || self.starts_with_date || self.starts_by_naming_someone
    }
}

fn attribution_start_cues(line: &str, lowered: &str) -> AttributionStartCues {
    let opening = lowered.trim_start_matches(|c: char| matches!(c, '-' | '*') || c.is_whitespace());
    let has_bracketed_address = line.contains('@') && (line.contains('<') || line.contains('(') || line.contains("&lt;"));
    let starts_with_address = opening.split_whitespace().next().is_some_and(|first_word| first_word.contains('@'));
    AttributionStartCues {
        starts_with_opener: ATTRIBUTION_OPENERS.iter().any(|opener| opening.starts_with(opener))
            || ATTRIBUTION_OPENERS_WITHOUT_SPACE.iter().any(|opener| opening.starts_with(opener)),
        starts_with_date: opening.split_whitespace().take(3).any(|token| token.chars().any(|c| c.is_ascii_digit())),
        starts_by_naming_someone: has_bracketed_address || starts_with_address || lowered.contains(" via "),
    }
}

/// What one line contributes to a possible attribution window, computed once per line.
struct AttributionLineFacts {
    byte_length: usize,
    has_address_sign: bool,
    has_digit: bool,
    has_date_or_time: bool,
    has_verb_before_name: bool,
    has_verb_before_date: bool,
    ending: AttributionEnding,
    ends_like_a_sentence: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AttributionShape {
    /// "On <date>, <name> wrote:" and translations.
    OnDateThenSomeone,
    /// "<date> <name> <address>:", "понедельник, 6 октября 2014 г. пользователь x написал:".
    DateThenSomeone,
    /// "<name> <address> wrote:", "<name> via <list> schrieb:", "<name> <address> schrieb am <date>:".
    SomeoneFirst,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AttributionStrength {
    /// Ends in `<address>` without a colon: wrapping may continue on the next line.
    Weak,
    Strong,
}

/// A year (19xx, 20xx, not inside a longer number), a time (`9:05`, `17.21`, `9h05`) or
/// a numeric date (`3/4/2016`, `2016-03-04`, `04.03.16`) somewhere in `text`.
/// Hand-written: this runs in every process that reads a reply, and compiling the
/// equivalent regex costs more than the scan.
fn has_year_or_time(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digit = |index: usize| bytes.get(index).is_some_and(u8::is_ascii_digit);
    let date_separator = |index: usize| bytes.get(index).is_some_and(|byte| matches!(byte, b'.' | b'/' | b'-'));
    (0..bytes.len()).filter(|&index| digit(index)).any(|index| {
        let year = matches!(&bytes[index..], [b'1', b'9', ..] | [b'2', b'0', ..])
            && digit(index + 2)
            && digit(index + 3)
            && (index == 0 || !digit(index - 1))
            && !digit(index + 4);
        let time = matches!(bytes.get(index + 1), Some(b':' | b'.' | b'h')) && digit(index + 2) && digit(index + 3);
        let date = date_separator(index + 1) && digit(index + 2) && {
            let second_separator = if digit(index + 3) { index + 4 } else { index + 3 };
            date_separator(second_separator) && digit(second_separator + 1)
        };
        year || time || date
    })
}

/// Gmail's localised "2016-03-03 17:21 GMT+01:00 Name" attribution, which has neither verb
/// nor address.
static ISO_DATE_GMT_ATTRIBUTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{1,2}:[0-9]{2} GMT[+-][0-9]{1,2}:[0-9]{2} [\p{L}\p{N} ._'-]+$").expect("static regex")
});

fn attribution_facts(line: &str, lowered: &str) -> AttributionLineFacts {
    let words: Vec<&str> = lowered
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '"' | '<' | '>'))
        .filter(|w| !w.is_empty())
        .collect();
    let contains_phrase = |phrases: &[&str]| {
        phrases.iter().filter(|phrase| lowered.contains(*phrase)).any(|phrase| {
            let phrase_words: Vec<&str> = phrase.split(' ').collect();
            words.windows(phrase_words.len()).any(|window| window == phrase_words.as_slice())
        })
    };
    AttributionLineFacts {
        byte_length: line.len(),
        has_address_sign: line.contains('@'),
        has_digit: lowered.chars().any(|c| c.is_ascii_digit()),
        has_date_or_time: has_year_or_time(lowered),
        has_verb_before_name: contains_phrase(ATTRIBUTION_VERBS_BEFORE_NAME),
        has_verb_before_date: contains_phrase(ATTRIBUTION_VERBS_BEFORE_DATE),
        ending: attribution_ending(lowered),
        ends_like_a_sentence: ends_like_a_sentence(lowered),
    }
}

/// "…TWICE!", "…the other hand." end a sentence; "…2014," and "…Fr., 28." do not (dates
/// inside a wrapped attribution). Short abbreviations ("Fr.", "Apr.") are not sentence ends.
fn ends_like_a_sentence(lowered: &str) -> bool {
    let text = lowered.trim_end();
    if text.ends_with(['!', '?']) {
        return true;
    }
    let Some(before_full_stop) = text.strip_suffix('.') else {
        return false;
    };
    let last_word = before_full_stop.rsplit(char::is_whitespace).next().unwrap_or("");
    last_word.chars().count() >= 4 && last_word.chars().all(char::is_alphabetic)
}

/// How a line ends, as far as attributions care. Cheap: run on every line to find the lines
/// an attribution could end on.
fn attribution_ending(lowered: &str) -> AttributionEnding {
    let ending_text = lowered.trim_end_matches(|c: char| matches!(c, '-' | '*' | '.' | '>') || c.is_whitespace());
    let (ending_text, has_colon) = match ending_text.strip_suffix([':', '：']) {
        Some(before_colon) => (before_colon.trim_end(), true),
        None => (ending_text, false),
    };
    let ends_with_address = {
        let raw_end = lowered.trim_end_matches(|c: char| matches!(c, ':' | '：' | '-') || c.is_whitespace());
        raw_end.ends_with('>') || raw_end.ends_with(')') || raw_end.ends_with("&gt;")
    };
    if ends_with_closing_verb(ending_text) {
        AttributionEnding::Verb
    } else if has_colon && ends_with_address {
        AttributionEnding::AddressColon
    } else if has_colon {
        AttributionEnding::Colon
    } else if ends_with_address {
        AttributionEnding::Address
    } else {
        AttributionEnding::None
    }
}

/// The last characters of all closing verbs: most lines end in something else, and comparing
/// one character is much cheaper than trying every verb.
static CLOSING_VERB_LAST_CHARACTERS: LazyLock<Vec<char>> = LazyLock::new(|| {
    let mut characters: Vec<char> =
        ATTRIBUTION_CLOSING_VERBS.iter().filter_map(|verb| verb.chars().next_back()).collect();
    characters.sort_unstable();
    characters.dedup();
    characters
});

fn ends_with_closing_verb(text: &str) -> bool {
    let Some(last_character) = text.chars().next_back() else {
        return false;
    };
    if CLOSING_VERB_LAST_CHARACTERS.binary_search(&last_character).is_err() {
        return false;
    }
    ATTRIBUTION_CLOSING_VERBS.iter().any(|verb| {
        text.strip_suffix(verb).is_some_and(|before| {
            // A whole word: "rewrote" does not count, "<a@b>wrote" (no space) does.
            before.chars().next_back().is_none_or(|c| !c.is_alphanumeric() || !verb.is_ascii())
        })
    })
}

fn mark_attributions(lines: &[&str], lowered_lines: &[Option<&str>], kinds: &mut [LineKind]) {
    let line_count = lines.len();
    let windows = AttributionWindows {
        lines,
        lowered_lines,
        kinds,
        start_cues: (0..line_count)
            .map(|index| match (kinds[index], &lowered_lines[index]) {
                (Text, Some(lowered)) => {
                    Some(attribution_start_cues(lines[index], lowered)).filter(AttributionStartCues::any)
                }
                _ => None,
            })
            .collect(),
        facts: (0..line_count).map(|_| OnceCell::new()).collect(),
    };
    let mut found: Vec<(usize, usize)> = Vec::new();
    let mut first_free_line = 0;
    let mut end = 0;
    while end < line_count {
        if kinds[end] == Text && lines[end].contains(" GMT") && ISO_DATE_GMT_ATTRIBUTION.is_match(lines[end].trim()) {
            found.push((end, end));
            first_free_line = end + 1;
            end += 1;
            continue;
        }
        let could_end_here = matches!(kinds[end], Text | Quoted)
            && lowered_lines[end].is_some_and(|lowered| attribution_ending(lowered) != AttributionEnding::None);
        if could_end_here {
            if let Some((start, last)) = windows.find_ending_at(end, first_free_line) {
                found.push((start, last));
                first_free_line = last + 1;
                end = last + 1;
                continue;
            }
        }
        end += 1;
    }
    drop(windows);
    for (start, last) in found {
        kinds[start..=last].iter_mut().for_each(|kind| *kind = Attribution);
    }
    mark_bare_attributions_before_quotes(lines, lowered_lines, kinds);
}

struct AttributionWindows<'lines> {
    lines: &'lines [&'lines str],
    lowered_lines: &'lines [Option<&'lines str>],
    kinds: &'lines [LineKind],
    /// `None` for lines that cannot start any attribution shape.
    start_cues: Vec<Option<AttributionStartCues>>,
    /// Computed on first use: only lines inside a window with a plausible start need them.
    facts: Vec<OnceCell<Option<AttributionLineFacts>>>,
}

impl AttributionWindows<'_> {
    fn facts(&self, index: usize) -> Option<&AttributionLineFacts> {
        self.facts[index]
            .get_or_init(|| match (self.kinds[index], &self.lowered_lines[index]) {
                (Text | Quoted, Some(lowered)) => Some(attribution_facts(self.lines[index], lowered)),
                _ => None,
            })
            .as_ref()
    }

    /// The cue the first line of each shape must carry; checked before walking a window.
    fn could_start(&self, start: usize, shape: AttributionShape) -> bool {
        self.start_cues[start].as_ref().is_some_and(|first| match shape {
            AttributionShape::OnDateThenSomeone => first.starts_with_opener,
            AttributionShape::DateThenSomeone => first.starts_with_date,
            AttributionShape::SomeoneFirst => first.starts_by_naming_someone,
        })
    }

    /// The attribution whose last line is `end`, if any, preferring the shapes with the
    /// strongest opening cue and, within a shape, the tightest start.
    fn find_ending_at(&self, end: usize, first_free_line: usize) -> Option<(usize, usize)> {
        let earliest_start = end.saturating_sub(MAX_ATTRIBUTION_LINES - 1).max(first_free_line);
        if self.start_cues[earliest_start..=end].iter().all(Option::is_none) {
            return None;
        }
        for shape in
            [AttributionShape::OnDateThenSomeone, AttributionShape::DateThenSomeone, AttributionShape::SomeoneFirst]
        {
            for start in (earliest_start..=end).rev() {
                let Some(strength) = self.strength(start, end, shape) else {
                    continue;
                };
                let mut last = end;
                if strength == AttributionStrength::Weak {
                    // "Le 4 janv. 2016, Name\n<a@b>\na écrit :": the address is not the end.
                    let furthest = (start + MAX_ATTRIBUTION_LINES - 1).min(self.lines.len() - 1);
                    for candidate_end in end + 1..=furthest {
                        let extended = [
                            AttributionShape::OnDateThenSomeone,
                            AttributionShape::DateThenSomeone,
                            AttributionShape::SomeoneFirst,
                        ]
                        .into_iter()
                        .any(|any_shape| {
                            self.strength(start, candidate_end, any_shape) == Some(AttributionStrength::Strong)
                        });
                        if extended {
                            last = candidate_end;
                            break;
                        }
                    }
                }
                return Some((self.extend_start_backwards(start, last, first_free_line), last));
            }
        }
        None
    }

    /// The tightest start can be a wrapped middle line that happens to begin with an opener:
    /// "On Nov 21, 2014,\nat 10:18,\nJohn <j@x.org> wrote:". Reach back over lines that read
    /// as a continuation (the start is lower-case, or the line above ends in a comma) to the
    /// line that opens the whole attribution.
    fn extend_start_backwards(&self, start: usize, last: usize, first_free_line: usize) -> usize {
        let earliest = last.saturating_sub(MAX_ATTRIBUTION_LINES - 1).max(first_free_line);
        let mut current_start = start;
        for candidate in (earliest..start).rev() {
            if self.kinds[candidate] != Text {
                break;
            }
            let Some(candidate_facts) = self.facts(candidate) else {
                break;
            };
            let continues_below = self.lines[candidate].trim_end().ends_with(',')
                || self.lines[current_start].trim_start().chars().next().is_some_and(char::is_lowercase);
            if candidate_facts.ends_like_a_sentence || !continues_below {
                break;
            }
            let opens_the_attribution = [AttributionShape::OnDateThenSomeone, AttributionShape::DateThenSomeone]
                .into_iter()
                .any(|shape| self.strength(candidate, last, shape) == Some(AttributionStrength::Strong));
            if opens_the_attribution {
                current_start = candidate;
            }
        }
        current_start
    }

    fn strength(&self, start: usize, end: usize, shape: AttributionShape) -> Option<AttributionStrength> {
        use AttributionEnding as Ending;
        use AttributionStrength::{Strong, Weak};
        if !self.could_start(start, shape) {
            return None;
        }
        let first = self.facts(start)?;
        let last = self.facts(end)?;
        let mut total_bytes = 0;
        let mut has_address_sign = false;
        let mut has_digit = false;
        let mut has_date_or_time = false;
        let mut has_verb_before_name = false;
        let mut has_verb_before_date = false;
        for index in start..=end {
            let kind = self.kinds[index];
            total_bytes += self.lines[index].len() + 1;
            if kind == Blank {
                continue;
            }
            let continuation_allowed = match kind {
                Text => true,
                Quoted => index > start && self.lines[index].len() <= MAX_QUOTED_ATTRIBUTION_CONTINUATION_BYTES,
                _ => false,
            };
            if !continuation_allowed {
                return None;
            }
            let facts = self.facts(index)?;
            has_address_sign |= facts.has_address_sign;
            has_digit |= facts.has_digit;
            has_date_or_time |= facts.has_date_or_time;
            has_verb_before_name |= facts.has_verb_before_name;
            has_verb_before_date |= facts.has_verb_before_date;
        }
        if total_bytes > MAX_ATTRIBUTION_BYTES || first.byte_length > MAX_ATTRIBUTION_BYTES {
            return None;
        }
        // A wrapped attribution breaks mid-phrase; a first line that ends a sentence
        // ("On the other hand, it happened TWICE!") is the sender's text above it.
        if end > start && first.ends_like_a_sentence {
            return None;
        }
        let verb_ending = last.ending == Ending::Verb || (last.ending == Ending::Colon && has_verb_before_name);
        let address_colon_ending = last.ending == Ending::AddressColon && has_address_sign;
        let address_ending = last.ending == Ending::Address && has_address_sign;
        match shape {
            AttributionShape::OnDateThenSomeone => {
                let ending_is_strong = verb_ending || address_colon_ending;
                ((has_digit || has_address_sign) && ending_is_strong).then_some(Strong)
            }
            AttributionShape::DateThenSomeone => {
                if !has_date_or_time {
                    return None;
                }
                if verb_ending || address_colon_ending {
                    Some(Strong)
                } else if address_ending {
                    Some(Weak)
                } else {
                    None
                }
            }
            AttributionShape::SomeoneFirst => {
                let ending_is_strong = verb_ending
                    || (has_verb_before_date && matches!(last.ending, Ending::Colon | Ending::AddressColon));
                ending_is_strong.then_some(Strong)
            }
        }
    }
}

/// "Bob wrote:" with neither date nor address is an attribution only when a quote follows it.
fn mark_bare_attributions_before_quotes(lines: &[&str], lowered_lines: &[Option<&str>], kinds: &mut [LineKind]) {
    let mut next_non_blank_is_quote = false;
    for index in (0..lines.len()).rev() {
        match kinds[index] {
            Blank => continue,
            Text if next_non_blank_is_quote => {
                let Some(lowered) = lowered_lines[index] else {
                    next_non_blank_is_quote = false;
                    continue;
                };
                let before_colon = lowered.strip_suffix([':', '：']).map(str::trim_end);
                let is_bare_attribution = before_colon.is_some_and(|text| {
                    text.len() <= 100 && text.split_whitespace().count() <= 10 && ends_with_closing_verb(text)
                });
                if is_bare_attribution {
                    kinds[index] = Attribution;
                }
            }
            _ => {}
        }
        next_non_blank_is_quote = kinds[index] == Quoted;
    }
}

// ---------------------------------------------------------------------------------------------
// Deciding what the note is
// ---------------------------------------------------------------------------------------------

struct QuoteBlock {
    first_line: usize,
    last_line: usize,
    introduced_by_attribution: bool,
}

fn end_of_run(kinds: &[LineKind], start: usize) -> usize {
    let kind = kinds[start];
    let mut last = start;
    while last + 1 < kinds.len() && kinds[last + 1] == kind {
        last += 1;
    }
    last
}

/// Which lines form the note, in order.
fn select_note_lines(lines: &[&str], kinds: &[LineKind]) -> Vec<usize> {
    let line_count = lines.len();
    let mut keep = vec![true; line_count];
    let end_of_sender_text = find_end_of_sender_text(kinds, &mut keep);
    keep[end_of_sender_text..].iter_mut().for_each(|flag| *flag = false);
    drop_history_quote_blocks(kinds, &mut keep, end_of_sender_text);
    (0..line_count).filter(|&index| keep[index]).collect()
}

/// Walks down until the first thing that starts the earlier message (an attribution followed
/// by unquoted text, a header block, an original-message marker, a signature or footer) once
/// the sender has written something. The same things above any sender text are removed on
/// their own instead: a forward with nothing added, a reply that starts below an attribution.
fn find_end_of_sender_text(kinds: &[LineKind], keep: &mut [bool]) -> usize {
    let line_count = kinds.len();
    let mut sender_has_written = false;
    let mut index = 0;
    while index < line_count {
        match kinds[index] {
            Text => sender_has_written = true,
            Blank | Quoted | Decoration => {}
            WeakFooter => keep[index] = false,
            Attribution => {
                let last = end_of_run(kinds, index);
                let next_content = (last + 1..line_count).find(|&probe| !matches!(kinds[probe], Blank | Decoration));
                let introduces_a_quote = next_content.is_some_and(|probe| kinds[probe] == Quoted);
                if !introduces_a_quote {
                    if sender_has_written {
                        return index;
                    }
                    keep[index..=last].iter_mut().for_each(|flag| *flag = false);
                }
                index = last + 1;
                continue;
            }
            HeaderBlock => {
                if sender_has_written {
                    return index;
                }
                let last = end_of_run(kinds, index);
                keep[index..=last].iter_mut().for_each(|flag| *flag = false);
                index = last + 1;
                continue;
            }
            SignatureDelimiter | UnderscoreRule | StrongFooter | OriginalMessageMarker => {
                if sender_has_written {
                    return index;
                }
                keep[index] = false;
            }
        }
        index += 1;
    }
    line_count
}

/// Quote blocks the sender did not answer below are history. So is a single attributed
/// quote above a bottom-posted answer (the whole earlier message). Quotes with the sender's
/// answers interleaved, or quoted without attribution (a deliberate excerpt), are context.
fn drop_history_quote_blocks(kinds: &[LineKind], keep: &mut [bool], end_of_sender_text: usize) {
    let mut blocks: Vec<QuoteBlock> = Vec::new();
    let mut index = 0;
    while index < end_of_sender_text {
        if !keep[index] || !matches!(kinds[index], Quoted | Attribution) {
            index += 1;
            continue;
        }
        let first_line = index;
        let mut last_line = index;
        let mut introduced_by_attribution = false;
        let mut has_quote = false;
        let mut probe = index;
        while probe < end_of_sender_text {
            if keep[probe] {
                match kinds[probe] {
                    Quoted => {
                        has_quote = true;
                        last_line = probe;
                    }
                    Attribution => {
                        introduced_by_attribution |= !has_quote;
                        last_line = probe;
                    }
                    Blank | Decoration => {}
                    _ => break,
                }
            }
            probe += 1;
        }
        if has_quote {
            blocks.push(QuoteBlock { first_line, last_line, introduced_by_attribution });
        }
        index = last_line + 1;
    }

    let is_kept_text = |line: usize| keep[line] && kinds[line] == Text;
    let first_text_line = (0..end_of_sender_text).find(|&line| is_kept_text(line));
    let last_text_line = (0..end_of_sender_text).rev().find(|&line| is_kept_text(line));
    let is_answered = |block: &QuoteBlock| last_text_line.is_some_and(|line| line > block.last_line);
    let answered_block_count = blocks.iter().filter(|block| is_answered(block)).count();

    for block in &blocks {
        let is_leading = first_text_line.is_none_or(|line| line > block.first_line);
        let is_whole_earlier_message_above_answer =
            is_leading && block.introduced_by_attribution && answered_block_count == 1;
        let drop_whole_block = !is_answered(block) || is_whole_earlier_message_above_answer;
        for line in block.first_line..=block.last_line {
            if drop_whole_block || kinds[line] == Attribution {
                keep[line] = false;
            }
        }
    }
    // Attributions not attached to a quote were handled above; any left are just markers.
    for line in 0..end_of_sender_text {
        if kinds[line] == Attribution {
            keep[line] = false;
        }
    }
}

fn is_em_dash_rule(line: &str) -> bool {
    let trimmed = line.trim();
    !trimmed.is_empty() && trimmed.chars().all(|c| c == '—' || c == '–')
}

/// Joins the kept lines, without the trailing em-dash signature, trailing rules and blank
/// lines around the note.
fn join_kept_lines(lines: &[&str], kinds: &[LineKind], kept_line_indexes: &[usize]) -> String {
    let mut kept: Vec<usize> = kept_line_indexes.to_vec();

    // "—\nJane Doe\nCEO": a short block under a lone em dash is a signature (GitHub, Apple).
    let mut non_blank_lines_below = 0;
    for position in (0..kept.len()).rev() {
        let line = lines[kept[position]];
        if is_em_dash_rule(line) {
            let sender_text_above = kept[..position].iter().any(|&index| kinds[index] == Text);
            if sender_text_above {
                kept.truncate(position);
            }
            break;
        }
        if kinds[kept[position]] == Blank {
            continue;
        }
        non_blank_lines_below += 1;
        let looks_like_signature_line =
            kinds[kept[position]] == Text && line.trim().chars().count() <= MAX_EM_DASH_SIGNATURE_LINE_CHARS;
        if non_blank_lines_below > MAX_EM_DASH_SIGNATURE_LINES || !looks_like_signature_line {
            break;
        }
    }

    while kept.last().is_some_and(|&index| matches!(kinds[index], Blank | Decoration)) {
        kept.pop();
    }
    let first_content = kept.iter().position(|&index| kinds[index] != Blank).unwrap_or(kept.len());
    let mut note = String::new();
    let mut previous: Option<usize> = None;
    for &index in &kept[first_content..] {
        if let Some(previous_index) = previous {
            // One blank line says all a run of them can: removed lines leave runs the sender
            // never typed, and HTML turned into text gives Outlook's empty paragraphs
            // (`&nbsp;`) a blank line each, between blank lines.
            if kinds[index] == Blank && kinds[previous_index] == Blank {
                continue;
            }
            note.push('\n');
        }
        if kinds[index] != Blank {
            note.push_str(lines[index]);
        }
        previous = Some(index);
    }
    let trimmed_length = note.trim_end().len();
    note.truncate(trimmed_length);
    note
}
