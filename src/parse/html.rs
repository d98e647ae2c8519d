//! HTML made safe for a tree builder: nesting bounded in one linear pass.
//!
//! html5ever and html2text walk the open-element stack for each tag, so a part of
//! 100,000 unclosed `<div>`s (half a megabyte) costs quadratic time and memory. No
//! readable mail nests deeper than a few dozen levels; beyond [`MAX_DEPTH`] an opening
//! tag (and later its closing tag) is left out. The text between tags is kept as it
//! is, so nothing a person wrote is lost, only the layout of absurd nesting.

use std::borrow::Cow;

/// Open elements kept; deeper opening tags are dropped with their closing tags.
pub const MAX_DEPTH: usize = 64;

/// Elements that never have content, so they never nest.
const VOID: &[&str] =
    &["area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta", "param", "source", "track", "wbr"];

/// Elements whose text is not markup: their content is copied up to the closing tag.
const RAW_TEXT: &[&str] = &["script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "plaintext"];

/// Elements that a tree builder closes when their next sibling opens (`<p>a<p>b`,
/// `<li>a<li>b`), which sloppy mail relies on; they must not count as nesting.
fn closes_open_sibling(name: &str, open: &str) -> bool {
    match name {
        "li" | "p" | "option" | "tr" => open == name,
        "dt" | "dd" => matches!(open, "dt" | "dd"),
        "td" | "th" => matches!(open, "td" | "th"),
        _ => false,
    }
}

/// `html` with nesting deeper than [`MAX_DEPTH`] removed. Linear in the input: each
/// byte is looked at a bounded number of times, and the stack never exceeds the bound.
pub fn bound_nesting(html: &str) -> Cow<'_, str> {
    let bytes = html.as_bytes();
    let mut open: Vec<String> = Vec::new();
    // Opening tags dropped per name, so that as many closing tags are dropped too.
    let mut dropped: Vec<(String, usize)> = Vec::new();
    let mut out: Option<String> = None;
    let mut copied_to = 0;
    let mut at = 0;
    while let Some(offset) = memchr(b'<', &bytes[at..]) {
        let start = at + offset;
        let Some(tag) = Tag::read(html, start) else {
            at = start + 1;
            continue;
        };
        at = tag.end;
        let keep = if tag.closing {
            match dropped.iter_mut().find(|(name, count)| *name == tag.name && *count > 0) {
                Some((_, count)) => {
                    *count -= 1;
                    false
                }
                None => {
                    if let Some(position) = open.iter().rposition(|name| *name == tag.name) {
                        open.truncate(position);
                    }
                    true
                }
            }
        } else if tag.self_closing || VOID.contains(&tag.name.as_str()) {
            true
        } else {
            if open.last().is_some_and(|last| closes_open_sibling(&tag.name, last)) {
                open.pop();
            }
            if RAW_TEXT.contains(&tag.name.as_str()) {
                // Its content is text up to its own closing tag, kept as it is.
                at = raw_text_end(html, at, &tag.name);
                true
            } else if open.len() < MAX_DEPTH {
                open.push(tag.name);
                true
            } else {
                match dropped.iter_mut().find(|(name, _)| *name == tag.name) {
                    Some((_, count)) => *count += 1,
                    None => dropped.push((tag.name, 1)),
                }
                false
            }
        };
        if !keep {
            let out = out.get_or_insert_with(|| String::with_capacity(html.len()));
            out.push_str(&html[copied_to..start]);
            copied_to = tag.end;
        }
    }
    match out {
        None => Cow::Borrowed(html),
        Some(mut out) => {
            out.push_str(&html[copied_to..]);
            Cow::Owned(out)
        }
    }
}

/// One tag or comment starting at `<`.
struct Tag {
    /// Lower-case element name; empty for comments, doctypes and processing instructions.
    name: String,
    closing: bool,
    self_closing: bool,
    /// Index just past the tag.
    end: usize,
}

impl Tag {
    /// The tag at `start`, or `None` where `<` does not start one (`a < b`).
    fn read(html: &str, start: usize) -> Option<Tag> {
        let bytes = html.as_bytes();
        let rest = &html[start..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            let end = comment.find("-->").map_or(html.len(), |position| start + 4 + position + 3);
            return Some(Tag { name: String::new(), closing: false, self_closing: true, end });
        }
        if rest.starts_with("<!") || rest.starts_with("<?") {
            let end = memchr(b'>', &bytes[start..]).map_or(html.len(), |position| start + position + 1);
            return Some(Tag { name: String::new(), closing: false, self_closing: true, end });
        }
        let closing = rest.starts_with("</");
        let name_start = start + if closing { 2 } else { 1 };
        let name_length = bytes[name_start..].iter().take_while(|byte| byte.is_ascii_alphanumeric() || **byte == b'-' || **byte == b':').count();
        if name_length == 0 || !bytes[name_start].is_ascii_alphabetic() {
            return None;
        }
        let name = html[name_start..name_start + name_length].to_ascii_lowercase();
        // Attributes may hold `>` inside quotes.
        let mut quote: Option<u8> = None;
        let mut position = name_start + name_length;
        while position < bytes.len() {
            let byte = bytes[position];
            match quote {
                Some(open) if byte == open => quote = None,
                Some(_) => {}
                None if byte == b'"' || byte == b'\'' => quote = Some(byte),
                None if byte == b'>' => {
                    let self_closing = position > name_start && bytes[position - 1] == b'/';
                    return Some(Tag { name, closing, self_closing, end: position + 1 });
                }
                None => {}
            }
            position += 1;
        }
        // Cut off inside a tag: the rest is that tag.
        Some(Tag { name, closing, self_closing: true, end: html.len() })
    }
}

/// Where the content of a raw-text element that starts at `from` ends: just past
/// `</name>`, or the end of the input.
fn raw_text_end(html: &str, from: usize, name: &str) -> usize {
    let bytes = html.as_bytes();
    let mut at = from;
    while let Some(offset) = memchr(b'<', &bytes[at..]) {
        let start = at + offset;
        let candidate = &bytes[start..];
        if candidate.len() >= name.len() + 2 && candidate[1] == b'/' && candidate[2..2 + name.len()].eq_ignore_ascii_case(name.as_bytes()) {
            return memchr(b'>', &bytes[start..]).map_or(html.len(), |position| start + position + 1);
        }
        at = start + 1;
    }
    html.len()
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|byte| *byte == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_html_is_left_alone() {
        let html = "<html><body><div><p>Hi<p>there<ul><li>a<li>b</ul><br><img src='x>y'><!-- <div> --><script>if (a<b) {}</script></div></body></html>";
        assert!(matches!(bound_nesting(html), Cow::Borrowed(_)));
    }

    #[test]
    fn deep_nesting_is_cut_at_the_bound_and_text_kept() {
        let depth = MAX_DEPTH * 3;
        let html = format!("{}deep{}after", "<div>".repeat(depth), "</div>".repeat(depth));
        let bounded = bound_nesting(&html);
        assert_eq!(bounded.matches("<div>").count(), MAX_DEPTH);
        assert_eq!(bounded.matches("</div>").count(), MAX_DEPTH);
        assert!(bounded.contains("deep") && bounded.ends_with("after"));
    }

    #[test]
    fn unclosed_elements_and_broken_tags_do_not_panic() {
        for html in ["<div", "<div a=\"", "</", "<<<>>>", "<!--", "<script>x", "<1>", "é<é>ü", "<div/>".repeat(3).as_str()] {
            let _ = bound_nesting(html);
        }
        let unclosed = "<blockquote>".repeat(1000) + "words";
        let bounded = bound_nesting(&unclosed);
        assert_eq!(bounded.matches("<blockquote>").count(), MAX_DEPTH);
        assert!(bounded.ends_with("words"));
    }
}
