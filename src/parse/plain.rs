//! Plain-text bodies the parser leaves half done: UTF-7 (RFC 2152), which it decodes
//! lossily, and `format=flowed` (RFC 3676), whose soft line breaks it keeps.

/// Decodes UTF-7 exactly: `+…-` runs of modified base64 are UTF-16, `+-` is `+`, and the
/// character ending a run is kept unless it is `-`. `None` when the text is not UTF-7.
pub fn decode_utf7(bytes: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if !byte.is_ascii() {
            return None;
        }
        if byte != b'+' {
            out.push(byte as char);
            index += 1;
            continue;
        }
        index += 1;
        let run_start = index;
        while index < bytes.len() && base64_value(bytes[index]).is_some() {
            index += 1;
        }
        if index == run_start {
            // `+-` is a plus sign; a `+` before anything else is taken literally.
            out.push('+');
        } else {
            let mut units = Vec::new();
            let (mut bits, mut bit_count) = (0u32, 0u32);
            for &symbol in &bytes[run_start..index] {
                bits = (bits << 6) | u32::from(base64_value(symbol)?);
                bit_count += 6;
                if bit_count >= 16 {
                    bit_count -= 16;
                    units.push((bits >> bit_count) as u16);
                    bits &= (1 << bit_count) - 1;
                }
            }
            out.extend(char::decode_utf16(units).map(|decoded| decoded.unwrap_or(char::REPLACEMENT_CHARACTER)));
        }
        if bytes.get(index) == Some(&b'-') {
            index += 1;
        }
    }
    Some(out)
}

fn base64_value(symbol: u8) -> Option<u8> {
    match symbol {
        b'A'..=b'Z' => Some(symbol - b'A'),
        b'a'..=b'z' => Some(symbol - b'a' + 26),
        b'0'..=b'9' => Some(symbol - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Joins the soft line breaks of `format=flowed` text: a line ending in a space continues
/// on the next line of the same quote depth; with `delsp=yes` that space goes too. Space
/// stuffing is undone, and the signature separator `-- ` never flows.
pub fn unflow(text: &str, delete_space: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut open_depth: Option<usize> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let depth = line.bytes().take_while(|&byte| byte == b'>').count();
        let content = &line[depth..];
        let content = content.strip_prefix(' ').unwrap_or(content);
        match open_depth {
            Some(previous) if previous == depth => {}
            Some(_) => {
                out.push('\n');
                out.push_str(&">".repeat(depth));
                if depth > 0 {
                    out.push(' ');
                }
            }
            None => {
                out.push_str(&">".repeat(depth));
                if depth > 0 {
                    out.push(' ');
                }
            }
        }
        let flowed = content.ends_with(' ') && content != "-- ";
        if flowed {
            out.push_str(if delete_space { &content[..content.len() - 1] } else { content });
            open_depth = Some(depth);
        } else {
            out.push_str(content);
            out.push('\n');
            open_depth = None;
        }
    }
    // Every piece of the split got a line break; the last one had none in `text`.
    if open_depth.is_none() {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf7_decodes_exactly() {
        assert_eq!(decode_utf7(b"Hi Mom -+Jjo--!  A+ImIDkQ. 1 +- 1 = 2").as_deref(), Some("Hi Mom -\u{263a}-!  A\u{2262}\u{391}. 1 + 1 = 2"));
        assert_eq!(decode_utf7(b"Gr+APw-e aus K+APY-ln, 3+-4 Tage").as_deref(), Some("Grüe aus Köln, 3+4 Tage"));
        assert_eq!(decode_utf7(b"+ZeVnLIqe-").as_deref(), Some("日本語"));
        assert_eq!(decode_utf7("é".as_bytes()), None);
    }

    #[test]
    fn flowed_text_joins_soft_breaks() {
        let flowed = "This is a long \nline that was \nwrapped.\n\n> Quoted and \n> flowed.\n-- \nAnn\n";
        assert_eq!(unflow(flowed, false), "This is a long line that was wrapped.\n\n> Quoted and flowed.\n-- \nAnn\n");
        assert_eq!(unflow("Donaudampfschiff \nfahrt, long wo \nrd.\n", true), "Donaudampfschifffahrt, long word.\n");
        assert_eq!(unflow(" From the stuffed line\n", false), "From the stuffed line\n");
    }
}
