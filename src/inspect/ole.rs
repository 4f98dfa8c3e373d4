//! A bounded reader of OLE compound file (MS-CFB) directories: enough to tell an installer or a
//! document with VBA macros from a plain legacy Office document.

/// The CFB signature.
pub const MAGIC: &[u8] = &[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];

/// Most directory entries we read; real documents have tens, MSI packages a few hundred.
const MAX_ENTRIES: usize = 8192;

/// What an OLE file is, for the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Windows Installer package, patch or transform.
    Msi,
    /// Document with a VBA project.
    Macro,
    Plain,
}

/// MSI `{000C1084-…}`, MSP `{000C1086-…}`, MST `{000C1082-…}` root CLSIDs, as stored
/// (`-0000-0000-C000-000000000046`).
fn is_installer_clsid(c: &[u8]) -> bool {
    c.len() == 16
        && matches!(c[0], 0x82 | 0x84 | 0x86)
        && c[1..]
            == [
                0x10, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0, 0, 0, 0, 0, 0, 0x46,
            ]
}

fn u16le(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

fn u32le(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// One directory entry: its UTF-16 name, type and CLSID.
struct Entry {
    name: Vec<u16>,
    kind: u8,
    clsid: [u8; 16],
}

/// Classifies an OLE file; an unreadable directory is `Plain` (sniffing never fails).
pub fn classify(data: &[u8]) -> Class {
    let entries = directory(data).unwrap_or_default();
    let mut macro_doc = false;
    for (i, e) in entries.iter().enumerate() {
        // Root entry (type 5) carries the package CLSID.
        if i == 0 && e.kind == 5 && is_installer_clsid(&e.clsid) {
            return Class::Msi;
        }
        // MSI table streams have names compressed into the 0x3800..0x4840 range, the tables
        // themselves prefixed with 0x4840 (MS-CFB does not forbid them elsewhere, but only
        // Windows Installer writes them).
        if e.kind == 2 && e.name.first() == Some(&0x4840) {
            return Class::Msi;
        }
        let name = String::from_utf16_lossy(&e.name).to_ascii_lowercase();
        // Word and PowerPoint keep "VBA" under "Macros"/root, Excel "_VBA_PROJECT_CUR"; every
        // VBA project has a "_VBA_PROJECT" stream and a "VBA" storage (MS-OVBA 2.2).
        if name == "_vba_project" || name == "_vba_project_cur" || (name == "vba" && e.kind == 1) {
            macro_doc = true;
        }
    }
    if macro_doc {
        Class::Macro
    } else {
        Class::Plain
    }
}

/// Reads the directory entries by following the FAT chain from the header's first directory
/// sector; every read is bounds-checked and the chain is cut at the number of sectors.
fn directory(data: &[u8]) -> Option<Vec<Entry>> {
    if data.len() < 512 || !data.starts_with(MAGIC) {
        return None;
    }
    let shift = u16le(data, 0x1e)?;
    if shift != 9 && shift != 12 {
        return None;
    }
    let ssize = 1usize << shift;
    let nsectors = (data.len().saturating_sub(512)) / ssize + 1;
    let sector = |n: u32| -> Option<&[u8]> {
        let start = (n as usize).checked_add(1)?.checked_mul(ssize)?;
        data.get(start..start.checked_add(ssize)?)
    };
    // FAT sector numbers: 109 in the header, the rest in the DIFAT chain.
    let mut fat_sectors: Vec<u32> = (0..109)
        .filter_map(|i| u32le(data, 0x4c + i * 4))
        .filter(|&s| s < 0xFFFF_FFFA)
        .collect();
    let mut difat = u32le(data, 0x44)?;
    let mut hops = 0;
    while difat < 0xFFFF_FFFA && hops < nsectors && fat_sectors.len() < nsectors {
        let s = sector(difat)?;
        let per = ssize / 4 - 1;
        fat_sectors.extend(
            (0..per)
                .filter_map(|i| u32le(s, i * 4))
                .filter(|&x| x < 0xFFFF_FFFA),
        );
        difat = u32le(s, per * 4)?;
        hops += 1;
    }
    fat_sectors.truncate(nsectors);
    let next = |n: u32| -> Option<u32> {
        let per = ssize / 4;
        let fs = *fat_sectors.get(n as usize / per)?;
        u32le(sector(fs)?, (n as usize % per) * 4)
    };
    let mut out = Vec::new();
    let mut cur = u32le(data, 0x30)?;
    let mut hops = 0;
    while cur < 0xFFFF_FFFA && hops < nsectors && out.len() < MAX_ENTRIES {
        let s = sector(cur)?;
        for chunk in s.chunks_exact(128) {
            let nlen = (u16le(chunk, 0x40)? as usize).min(64);
            let name: Vec<u16> = chunk[..nlen.saturating_sub(2)]
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            let mut clsid = [0u8; 16];
            clsid.copy_from_slice(&chunk[0x50..0x60]);
            out.push(Entry {
                name,
                kind: chunk[0x42],
                clsid,
            });
        }
        cur = match next(cur) {
            Some(n) => n,
            None => break,
        };
        hops += 1;
    }
    Some(out)
}
