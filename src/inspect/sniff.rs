//! What a file is by its content, whatever its name says.

use serde::Serialize;

use super::ole;

/// The content type of a file as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sniff {
    /// Windows PE (or an older MZ-based NE/LE/LX) executable.
    Pe,
    /// DOS MZ program without a newer header.
    DosMz,
    Elf,
    /// Mach-O, one architecture.
    MachO,
    /// Mach-O universal ("fat") binary.
    MachOFat,
    /// Java class file (same magic as fat Mach-O; not an executable by itself).
    JavaClass,
    /// Windows Installer package, patch or transform (OLE with the MSI CLSIDs or tables).
    Msi,
    /// Windows shortcut.
    Lnk,
    /// OLE document with a VBA project (legacy Word/Excel/PowerPoint with macros).
    OleMacro,
    /// Any other OLE compound file (legacy Office document).
    Ole,
    /// OOXML package with `vbaProject.bin` (docm, xlsm, pptm, or one renamed .docx).
    OoxmlMacro,
    /// OOXML package without macros.
    Ooxml,
    /// Another zip file (the archive readers open it).
    Zip,
    /// MS-TNEF (`winmail.dat`).
    Tnef,
    Pdf,
    Image,
    Other,
}

impl Sniff {
    /// True for content a computer runs when it is opened.
    pub fn is_executable(self) -> bool {
        matches!(
            self,
            Sniff::Pe
                | Sniff::DosMz
                | Sniff::Elf
                | Sniff::MachO
                | Sniff::MachOFat
                | Sniff::Msi
                | Sniff::Lnk
        )
    }

    /// True for an Office document carrying macros.
    pub fn is_macro(self) -> bool {
        matches!(self, Sniff::OleMacro | Sniff::OoxmlMacro)
    }

    /// For findings: what the content is, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Sniff::Pe => "Windows PE",
            Sniff::DosMz => "DOS MZ",
            Sniff::Elf => "ELF",
            Sniff::MachO => "Mach-O",
            Sniff::MachOFat => "Mach-O universal",
            Sniff::JavaClass => "Java class",
            Sniff::Msi => "Windows Installer",
            Sniff::Lnk => "Windows shortcut (LNK)",
            Sniff::OleMacro => "OLE document with VBA macros",
            Sniff::Ole => "OLE document",
            Sniff::OoxmlMacro => "Office Open XML with vbaProject.bin",
            Sniff::Ooxml => "Office Open XML",
            Sniff::Zip => "zip",
            Sniff::Tnef => "MS-TNEF",
            Sniff::Pdf => "PDF",
            Sniff::Image => "image",
            Sniff::Other => "other",
        }
    }

    /// True when the first bytes are not enough to decide (the whole file must be read).
    pub fn needs_whole(prefix: &[u8]) -> bool {
        prefix.starts_with(ole::MAGIC)
            || prefix.starts_with(b"PK\x03\x04")
            || prefix.starts_with(&TNEF_MAGIC)
    }
}

/// MS-TNEF signature 0x223E9F78, little-endian.
pub const TNEF_MAGIC: [u8; 4] = [0x78, 0x9f, 0x3e, 0x22];

/// `00021401-0000-0000-C000-000000000046`, the shell link CLSID, as stored.
const LNK_CLSID: [u8; 16] = [
    0x01, 0x14, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46,
];

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Sniffs `data`, which is the whole file when [`Sniff::needs_whole`] said so, else a prefix.
pub fn sniff(data: &[u8]) -> Sniff {
    if data.starts_with(b"MZ") || data.starts_with(b"ZM") {
        return mz(data);
    }
    if data.starts_with(b"\x7fELF") && matches!(data.get(4), Some(1 | 2)) {
        return Sniff::Elf;
    }
    if let Some(m) = be32(data, 0) {
        match m {
            0xFEED_FACE | 0xFEED_FACF | 0xCEFA_EDFE | 0xCFFA_EDFE => return Sniff::MachO,
            0xCAFE_BABE | 0xCAFE_BABF => return cafebabe(data),
            _ => {}
        }
    }
    if data.len() >= 20 && le32(data, 0) == Some(0x4c) && data[4..20] == LNK_CLSID {
        return Sniff::Lnk;
    }
    if data.starts_with(ole::MAGIC) {
        return match ole::classify(data) {
            ole::Class::Msi => Sniff::Msi,
            ole::Class::Macro => Sniff::OleMacro,
            ole::Class::Plain => Sniff::Ole,
        };
    }
    if data.starts_with(b"PK\x03\x04") {
        return ooxml(data);
    }
    if data.starts_with(&TNEF_MAGIC) {
        return Sniff::Tnef;
    }
    if data.starts_with(b"%PDF-") {
        return Sniff::Pdf;
    }
    if data.starts_with(b"\xff\xd8\xff")
        || data.starts_with(b"\x89PNG\r\n\x1a\n")
        || data.starts_with(b"GIF8")
    {
        return Sniff::Image;
    }
    Sniff::Other
}

/// "MZ" alone is two letters any text may start with; a program also has a plausible header.
fn mz(data: &[u8]) -> Sniff {
    // e_lfanew at 0x3c points to the PE (or NE/LE/LX) header.
    if let Some(off) = le32(data, 0x3c) {
        let off = off as usize;
        if off >= 0x40 {
            if let Some(sig) = data.get(off..off.saturating_add(4)) {
                if sig == b"PE\0\0" {
                    return Sniff::Pe;
                }
                if matches!(&sig[..2], b"NE" | b"LE" | b"LX") {
                    return Sniff::Pe;
                }
            }
        }
    }
    // A DOS program: its header gives a sane size in pages and a header size in paragraphs
    // that fits in the file.
    let h = |at: usize| {
        data.get(at..at + 2)
            .map(|s| u16::from_le_bytes([s[0], s[1]]))
    };
    match (h(2), h(4), h(8)) {
        (Some(last), Some(pages), Some(hdr))
            if last < 512 && pages > 0 && hdr >= 2 && (hdr as usize) * 16 <= data.len().max(64) =>
        {
            Sniff::DosMz
        }
        _ => Sniff::Other,
    }
}

/// CAFEBABE is both fat Mach-O and Java class: Mach-O gives an architecture count (small),
/// Java gives minor and major versions (major ≥ 45, so the same word is ≥ 45).
fn cafebabe(data: &[u8]) -> Sniff {
    let n = be32(data, 4).unwrap_or(0);
    if n == 0 || n >= 45 {
        return Sniff::JavaClass;
    }
    // Each fat_arch is 20 bytes (fat_arch_64: 32) starting at 8; the first must have a known
    // CPU type (top byte 0 or 1 for the 64-bit ABI flag).
    let cpu = be32(data, 8).unwrap_or(u32::MAX);
    if cpu >> 24 <= 1 && cpu & 0x00ff_ffff != 0 {
        Sniff::MachOFat
    } else {
        Sniff::JavaClass
    }
}

/// A zip is an OOXML package when its central directory names `[Content_Types].xml`; it
/// carries macros when it names a `vbaProject.bin`. Read from the central directory, which
/// the readers of Office trust, not the local headers.
fn ooxml(data: &[u8]) -> Sniff {
    let names = super::zipdir::names(data, 100_000);
    let mut content_types = false;
    let mut vba = false;
    for n in &names {
        let lower = n.to_ascii_lowercase();
        if lower == "[content_types].xml" {
            content_types = true;
        }
        if lower.ends_with("vbaproject.bin") {
            vba = true;
        }
    }
    match (content_types, vba) {
        (_, true) => Sniff::OoxmlMacro,
        (true, false) => Sniff::Ooxml,
        _ => Sniff::Zip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pe() -> Vec<u8> {
        let mut v = vec![0u8; 256];
        v[..2].copy_from_slice(b"MZ");
        v[0x3c] = 0x80;
        v[0x80..0x84].copy_from_slice(b"PE\0\0");
        v
    }

    #[test]
    fn pe_needs_its_header() {
        assert_eq!(sniff(&pe()), Sniff::Pe);
        assert_eq!(
            sniff(b"MZ is a text that starts like a program"),
            Sniff::Other
        );
    }

    #[test]
    fn cafebabe_is_disambiguated() {
        let java = [0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52, 0, 0, 0, 0];
        assert_eq!(sniff(&java), Sniff::JavaClass);
        let fat = [
            0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2, 0x01, 0, 0, 7, 0, 0, 0, 3,
        ];
        assert_eq!(sniff(&fat), Sniff::MachOFat);
    }

    #[test]
    fn elf_and_lnk() {
        assert_eq!(sniff(b"\x7fELF\x02\x01\x01\0"), Sniff::Elf);
        let mut lnk = vec![0x4c, 0, 0, 0];
        lnk.extend_from_slice(&LNK_CLSID);
        lnk.extend_from_slice(&[0; 60]);
        assert_eq!(sniff(&lnk), Sniff::Lnk);
    }
}
