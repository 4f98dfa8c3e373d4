//! Archive password candidates from the message text, the way Vietnamese offices send them:
//! "Mật khẩu giải nén: X", "Mật khẩu: X", "MK: X", "mk X", "pass: X", "password: X", "pwd: X".

use unicode_normalization::UnicodeNormalization;

/// Keywords, matched on text folded to lowercase ASCII-ish (diacritics dropped, đ → d); longer
/// first so that "mat khau giai nen" wins over "mat khau", and "password" over "pass".
const KEYWORDS: &[&str] = &[
    "mat khau giai nen",
    "mat khau file nen",
    "mat khau mo file",
    "mat khau",
    "mat ma giai nen",
    "ma giai nen",
    "password",
    "passwd",
    "pass",
    "pwd",
    "mk",
];

/// How much text (in chars) is searched, so a huge body costs bounded time.
const MAX_CHARS: usize = 256 * 1024;

/// One folded char of the original text: the base letter lowercased, and where it came from.
fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    match c {
        'đ' | 'Đ' => 'd',
        _ => {
            let base = c.nfd().next().unwrap_or(c);
            base.to_lowercase().next().unwrap_or(base)
        }
    }
}

/// Adds the candidates found in `text` to `out`, keeping at most `max` distinct ones.
pub fn collect(text: &str, max: usize, out: &mut Vec<String>) {
    if out.len() >= max {
        return;
    }
    let nfc: String = text.nfc().take(MAX_CHARS).collect();
    let chars: Vec<char> = nfc.chars().collect();
    let folded: Vec<char> = chars.iter().map(|&c| fold_char(c)).collect();
    let mut i = 0;
    while i < folded.len() && out.len() < max {
        // Every keyword starts with 'm' or 'p', and a keyword starts a word.
        if !matches!(folded[i], 'm' | 'p') || (i > 0 && folded[i - 1].is_alphanumeric()) {
            i += 1;
            continue;
        }
        let Some(kw) = KEYWORDS.iter().find(|kw| starts_with(&folded[i..], kw)) else {
            i += 1;
            continue;
        };
        let mut j = i + kw.chars().count();
        // …and ends one.
        if folded.get(j).is_some_and(|c| c.is_alphanumeric()) {
            i += 1;
            continue;
        }
        // Separators: spaces, ':', '=', '-', "là"/"la" ("mật khẩu là X"), "is".
        let sep_start = j;
        while folded
            .get(j)
            .is_some_and(|&c| c == ' ' || c == '\t' || c == '\u{a0}')
        {
            j += 1;
        }
        if folded
            .get(j)
            .is_some_and(|&c| matches!(c, ':' | '=' | '-' | '：'))
        {
            j += 1;
        } else if starts_with(&folded[j..], "la ") || starts_with(&folded[j..], "is ") {
            j += 3;
        }
        while folded
            .get(j)
            .is_some_and(|&c| c == ' ' || c == '\t' || c == '\u{a0}')
        {
            j += 1;
        }
        if j == sep_start {
            // "mk" glued to the next word is not a keyword use.
            i += 1;
            continue;
        }
        if let Some((token, end)) = token(&chars, j) {
            push(out, max, &token);
            // Trailing sentence punctuation may or may not belong to the password.
            let trimmed = token.trim_end_matches(['.', ',', ';', ')', ']', '!', '?']);
            if !trimmed.is_empty() {
                push(out, max, trimmed);
            }
            i = end;
        } else {
            i = j.max(i + 1);
        }
    }
}

fn starts_with(hay: &[char], kw: &str) -> bool {
    let mut n = 0;
    for (k, c) in kw.chars().zip(hay.iter()) {
        if k != *c {
            return false;
        }
        n += 1;
    }
    n == kw.chars().count()
}

/// The password token at `at`: a quoted string, or a run of non-space chars.
fn token(chars: &[char], at: usize) -> Option<(String, usize)> {
    let first = *chars.get(at)?;
    let close = match first {
        '"' => Some('"'),
        '\'' => Some('\''),
        '“' => Some('”'),
        '«' => Some('»'),
        _ => None,
    };
    if let Some(close) = close {
        let rest = &chars[at + 1..];
        let end = rest
            .iter()
            .take(128)
            .position(|&c| c == close || c == '\n')?;
        let s: String = rest[..end].iter().collect();
        return (!s.is_empty()).then_some((s, at + 1 + end));
    }
    let len = chars[at..]
        .iter()
        .take(128)
        .take_while(|c| !c.is_whitespace() && **c != '<')
        .count();
    (len > 0).then(|| (chars[at..at + len].iter().collect(), at + len))
}

fn push(out: &mut Vec<String>, max: usize, s: &str) {
    if out.len() < max && !out.iter().any(|o| o == s) {
        out.push(s.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<String> {
        let mut v = Vec::new();
        collect(text, 8, &mut v);
        v
    }

    #[test]
    fn vietnamese_and_english_forms() {
        assert_eq!(all("Mật khẩu giải nén: Abc@123")[0], "Abc@123");
        assert_eq!(all("MẬT KHẨU: x1")[0], "x1");
        assert_eq!(all("mat khau: x2")[0], "x2");
        assert_eq!(all("Ma\u{323}\u{302}t kha\u{302}\u{309}u: nfd")[0], "nfd");
        assert_eq!(all("MK: 2024")[0], "2024");
        assert_eq!(all("gửi anh, mk 7788.")[..2], ["7788.", "7788"]);
        assert_eq!(all("Password: \"p w\"")[0], "p w");
        assert_eq!(all("pwd=zz")[0], "zz");
        assert_eq!(all("Pass: q")[0], "q");
        assert!(all("mkdir passport compass").is_empty());
    }

    #[test]
    fn bounded() {
        let text =
            "pass: a1 ".repeat(1000) + &(0..100).map(|i| format!("mk: {i} ")).collect::<String>();
        assert!(all(&text).len() <= 8);
    }
}
