//! American Soundex (as the US National Archives define it): a letter and three digits
//! that words sounding alike share, e.g. "Robert" and "Rupert" R163, "printer" and
//! "prynter" P653. It forgives misspelt vowels and doubled or similar-sounding
//! consonants; it does not forgive a wrong first letter. Short and well known, which is
//! why it is written here rather than pulled in as a crate.

/// The digit of a consonant; `None` for vowels (and y), which separate equal digits;
/// `Some('-')` for h and w, which do not.
fn digit(letter: char) -> Option<char> {
    match letter {
        'b' | 'f' | 'p' | 'v' => Some('1'),
        'c' | 'g' | 'j' | 'k' | 'q' | 's' | 'x' | 'z' => Some('2'),
        'd' | 't' => Some('3'),
        'l' => Some('4'),
        'm' | 'n' => Some('5'),
        'r' => Some('6'),
        'h' | 'w' => Some('-'),
        _ => None,
    }
}

/// The Soundex key of `word`'s ASCII letters; `None` when it has none.
pub fn soundex(word: &str) -> Option<String> {
    let mut letters = word.chars().filter(char::is_ascii_alphabetic).map(|letter| letter.to_ascii_lowercase());
    let first = letters.next()?;
    let mut key = String::with_capacity(4);
    key.push(first.to_ascii_uppercase());
    let mut previous = digit(first);
    for letter in letters {
        let code = digit(letter);
        match code {
            Some('-') => continue,
            Some(code_digit) if code != previous => key.push(code_digit),
            _ => {}
        }
        previous = code;
        if key.len() == 4 {
            break;
        }
    }
    while key.len() < 4 {
        key.push('0');
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::soundex;

    #[test]
    fn the_archives_examples_and_misspellings() {
        let cases = [
            ("Robert", "R163"),
            ("Rupert", "R163"),
            ("Rubin", "R150"),
            ("Ashcraft", "A261"),
            ("Tymczak", "T522"),
            ("Pfister", "P236"),
            ("Honeyman", "H555"),
            ("printer", "P653"),
            ("prynter", "P653"),
            ("Lee", "L000"),
        ];
        for (word, key) in cases {
            assert_eq!(soundex(word).as_deref(), Some(key), "{word}");
        }
        assert_eq!(soundex("1234"), None);
    }
}
