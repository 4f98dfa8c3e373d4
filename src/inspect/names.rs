//! File names as a person sees them, and the executable-extension list admins edit.

use std::collections::HashSet;

use unicode_normalization::UnicodeNormalization;

/// A name as shown to people: NFC (Vietnamese NFD names compose), control characters dropped,
/// path separators kept (archive members are paths).
pub fn display(name: &str) -> String {
    let clean = !name.chars().any(char::is_control);
    if clean
        && (name.is_ascii()
            || unicode_normalization::is_nfc_quick(name.chars())
                == unicode_normalization::IsNormalized::Yes)
    {
        return name.to_string();
    }
    name.nfc().filter(|c| !c.is_control()).collect()
}

/// The name reduced for matching: NFC, lowercase, trailing dots and spaces stripped (Windows
/// ignores them, so `setup.exe. ` runs as `setup.exe`), and only the last path component.
pub fn fold(name: &str) -> String {
    let name = display(name);
    let base = name.rsplit(['/', '\\']).next().unwrap_or(&name);
    // Windows also drops trailing dots and spaces of each component, and ignores an NTFS
    // stream suffix such as `setup.exe::$DATA`.
    let base = base.split("::").next().unwrap_or(base);
    base.trim_end_matches(['.', ' ', '\u{a0}', '\u{3000}'])
        .trim_start()
        .to_lowercase()
}

/// Every extension of a name, outermost first: `bao-cao.pdf.exe` gives `exe`, `pdf`.
pub fn extensions(folded: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = folded.split('.').skip(1).collect();
    parts.reverse();
    parts
        .into_iter()
        .map(|p| p.trim_end_matches([' ', '.']))
        .filter(|p| !p.is_empty())
        .collect()
}

/// The executable extensions of `filters/executables.txt`.
#[derive(Debug, Clone, Default)]
pub struct ExtensionList {
    set: HashSet<String>,
}

impl ExtensionList {
    /// Parses the list: one extension a line, `#` comments, optional leading dot.
    pub fn parse(text: &str) -> Self {
        let set = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(|l| l.trim_start_matches('.').to_lowercase())
            .collect();
        ExtensionList { set }
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// The listed extension a name ends with, when any: the last extension decides what Windows
    /// runs, so only it counts (`bao-cao.exe.pdf` is a PDF; its content is sniffed anyway).
    pub fn matches(&self, name: &str) -> Option<String> {
        let folded = fold(name);
        let ext = extensions(&folded).into_iter().next()?;
        self.set.contains(ext).then(|| ext.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_strips_what_windows_ignores() {
        assert_eq!(fold("SETUP.EXE. . "), "setup.exe");
        assert_eq!(fold("dir/Bao-Cao.pdf.Exe"), "bao-cao.pdf.exe");
        assert_eq!(fold("x.exe::$DATA"), "x.exe");
        // NFD "Báo cáo" composes to the NFC form.
        assert_eq!(fold("Ba\u{301}o ca\u{301}o.exe"), fold("Báo cáo.exe"));
    }

    #[test]
    fn last_extension_decides() {
        let l = ExtensionList::parse("# c\n.exe\nJS\n");
        assert_eq!(l.matches("bao-cao.pdf.exe").as_deref(), Some("exe"));
        assert_eq!(l.matches("a.js").as_deref(), Some("js"));
        assert_eq!(l.matches("bao-cao.exe.pdf"), None);
        assert_eq!(l.matches("exe"), None);
    }
}
