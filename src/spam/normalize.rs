//! Text as the spam rules and the classifier see it (issue 10): what a spammer does to hide a
//! word from a filter is undone before matching. Zero-width and other invisible characters
//! are removed, compatibility forms folded (fullwidth `ｌｏ` → `lo`, NFKC), lookalike letters
//! from Cyrillic and Greek mapped to the Latin ones they imitate, letters spaced out one by one
//! (`l ô đ ề`, `c.a đ.ộ`) joined again, and the text lowercased. Diacritics are kept by
//! [`normalize`]; [`fold`] strips them too (`lô đề` → `lo de`, `đ` → `d`), since Vietnamese
//! spam is written both ways and rules match either.

use unicode_normalization::UnicodeNormalization;

/// Invisible characters used to split words: zero-width space, non-joiner, joiner, word
/// joiner, BOM, soft hyphen, and the invisible separators and marks.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}' | '\u{034F}' | '\u{180E}'
    )
}

/// Cyrillic and Greek letters that look like Latin ones (lowercase after folding), the ones
/// phishing domains and spam words use.
fn unconfuse(c: char) -> char {
    match c {
        'а' => 'a',
        'в' => 'b',
        'е' | 'ё' => 'e',
        'к' => 'k',
        'м' => 'm',
        'н' => 'h',
        'о' | 'ο' | 'σ' => 'o',
        'р' | 'ρ' => 'p',
        'с' | 'ϲ' => 'c',
        'т' | 'τ' => 't',
        'у' | 'γ' => 'y',
        'х' | 'χ' => 'x',
        'і' | 'ι' => 'i',
        'ј' => 'j',
        'ѕ' => 's',
        'α' => 'a',
        'ν' => 'v',
        'ε' => 'e',
        'κ' => 'k',
        'η' => 'n',
        _ => c,
    }
}

/// Lowercase, NFC, without invisible characters and lookalikes, spaced-out letters joined.
pub fn normalize(text: &str) -> String {
    let cleaned: String = text
        .nfkc()
        .filter(|c| !invisible(*c))
        .flat_map(char::to_lowercase)
        .map(unconfuse)
        .collect();
    let joined = join_spaced_letters(&cleaned);
    joined.nfc().collect()
}

/// [`normalize`], then without diacritics: `Lô Đề` → `lo de`.
pub fn fold(text: &str) -> String {
    strip_marks(&normalize(text))
}

/// Removes combining marks (after NFD) and maps `đ` to `d`.
pub fn strip_marks(text: &str) -> String {
    text.nfd()
        .filter(|c| !is_combining(*c))
        .map(|c| match c {
            'đ' => 'd',
            'Đ' => 'D',
            _ => c,
        })
        .collect()
}

fn is_combining(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
}

/// Joins runs of at least three single letters separated by one space, dot, dash, underscore
/// or asterisk (`l ô đ ề`, `v-a-y t-i-e-n`): words spelled out to dodge filters. Normal
/// Vietnamese has one-letter words (`ở`, `ạ`), but never three in a row with separators.
/// Spaces in a run that also uses other separators stay as word boundaries.
fn join_spaced_letters(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let sep = |c: char| matches!(c, ' ' | '.' | '-' | '_' | '*');
    // A single letter at i: a letter (with its combining marks) between non-letters.
    let letter_at = |i: usize| -> Option<usize> {
        let c = *chars.get(i)?;
        if !c.is_alphanumeric() {
            return None;
        }
        if i > 0 && chars[i - 1].is_alphanumeric() {
            return None;
        }
        let mut end = i + 1;
        while end < chars.len() && is_combining(chars[end]) {
            end += 1;
        }
        match chars.get(end) {
            Some(n) if n.is_alphanumeric() => None,
            _ => Some(end),
        }
    };
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        // Collect a run: letter (sep letter)*
        let mut run = Vec::new();
        let mut j = i;
        while let Some(end) = letter_at(j) {
            run.push((j, end));
            match chars.get(end) {
                Some(c) if sep(*c) && letter_at(end + 1).is_some() => j = end + 1,
                _ => {
                    j = end;
                    break;
                }
            }
        }
        if run.len() >= 3 {
            // With dots or dashes between the letters, a space still ends a word
            // (`c.á.đ.ộ b.o.n.g`); with spaces alone, the words cannot be told apart.
            let marked = run
                .windows(2)
                .any(|w| chars.get(w[0].1).is_some_and(|c| *c != ' '));
            for (k, (s, e)) in run.iter().enumerate() {
                if k > 0 && marked && chars[run[k - 1].1] == ' ' {
                    out.push(' ');
                }
                out.extend(&chars[*s..*e]);
            }
            i = run.last().map(|(_, e)| *e).unwrap_or(j);
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hiding_tricks_are_undone() {
        // Zero-width characters inside a word, fullwidth letters, Cyrillic lookalikes.
        assert_eq!(normalize("nhà\u{200B}cái"), "nhàcái");
        assert_eq!(normalize("ＬÔ ĐỀ"), "lô đề");
        assert_eq!(normalize("раypаl"), "paypal");
        assert_eq!(fold("Vay tiền NHANH"), "vay tien nhanh");
        assert_eq!(
            fold("Đăng nhập hộp thư công vụ"),
            "dang nhap hop thu cong vu"
        );
    }

    #[test]
    fn spaced_out_words_are_joined_but_ordinary_text_is_not() {
        assert_eq!(normalize("l ô đ ề"), "lôđề");
        assert_eq!(fold("c.á.đ.ộ b.o.n.g đá"), "cado bong da");
        assert_eq!(normalize("v-a-y t-i-e-n"), "vay tien");
        // Two one-letter words in a row stay apart; so does normal text.
        assert_eq!(normalize("ở a đây"), "ở a đây");
        assert_eq!(normalize("Kính gửi các đơn vị"), "kính gửi các đơn vị");
        // Combining marks written separately (NFD input) stay with their letter.
        assert_eq!(normalize("l o\u{302} \u{111} e\u{302}\u{300}"), "lôđề");
    }
}
