//! A bounded MS-TNEF (`winmail.dat`) reader: the attachments' names and data, nothing else.
//!
//! Layout (MS-OXTNEF 2.1.3): signature u32, key u16, then attributes of
//! `level u8, id u32, length u32, data[length], checksum u16`. An attachment starts at
//! `attAttachRenddata`; its name is `attAttachTitle` or, when present, the MAPI property
//! `PR_ATTACH_LONG_FILENAME` inside `attAttachment`; its content is `attAttachData`.

use super::sniff::TNEF_MAGIC;

const LVL_ATTACHMENT: u8 = 2;
const ATT_ATTACH_RENDDATA: u16 = 0x9002;
const ATT_ATTACH_TITLE: u16 = 0x8010;
const ATT_ATTACH_DATA: u16 = 0x800f;
const ATT_ATTACHMENT: u16 = 0x9005;
const PR_ATTACH_LONG_FILENAME: u16 = 0x3707;
const PR_ATTACH_FILENAME: u16 = 0x3704;

/// One attachment carried in a TNEF stream.
#[derive(Debug, Default, Clone)]
pub struct Attachment<'a> {
    pub name: Option<String>,
    pub long_name: Option<String>,
    pub data: &'a [u8],
}

/// The outcome of reading a TNEF stream.
#[derive(Debug, Default)]
pub struct Tnef<'a> {
    pub attachments: Vec<Attachment<'a>>,
    /// Set when the stream ended inside an attribute or a cap was reached.
    pub malformed: Option<&'static str>,
}

/// Reads at most `max_attachments` attachments.
pub fn read(data: &[u8], max_attachments: usize) -> Tnef<'_> {
    let mut out = Tnef::default();
    if !data.starts_with(&TNEF_MAGIC) {
        out.malformed = Some("no TNEF signature");
        return out;
    }
    let mut at = 6usize;
    let mut cur: Option<Attachment<'_>> = None;
    while at < data.len() {
        let Some(hdr) = data.get(at..at + 9) else {
            out.malformed = Some("truncated attribute");
            break;
        };
        let level = hdr[0];
        let id = u16::from_le_bytes([hdr[1], hdr[2]]);
        let len = u32::from_le_bytes([hdr[5], hdr[6], hdr[7], hdr[8]]) as usize;
        let start = at + 9;
        let Some(value) = start.checked_add(len).and_then(|end| data.get(start..end)) else {
            out.malformed = Some("attribute longer than the stream");
            break;
        };
        at = start + len + 2; // checksum
        if level != LVL_ATTACHMENT {
            continue;
        }
        match id {
            ATT_ATTACH_RENDDATA => {
                if let Some(a) = cur.take() {
                    out.attachments.push(a);
                }
                if out.attachments.len() >= max_attachments {
                    out.malformed = Some("too many attachments");
                    return out;
                }
                cur = Some(Attachment::default());
            }
            ATT_ATTACH_TITLE => {
                let a = cur.get_or_insert_with(Attachment::default);
                a.name = Some(ansi(value));
            }
            ATT_ATTACH_DATA => {
                let a = cur.get_or_insert_with(Attachment::default);
                a.data = value;
            }
            ATT_ATTACHMENT => {
                let a = cur.get_or_insert_with(Attachment::default);
                if let Some(n) = mapi_filename(value) {
                    a.long_name = Some(n);
                }
            }
            _ => {}
        }
    }
    if let Some(a) = cur.take() {
        out.attachments.push(a);
    }
    out
}

/// A NUL-terminated 8-bit string (the sender's code page; Latin-1 keeps ASCII names exact).
fn ansi(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    b[..end].iter().map(|&c| c as char).collect()
}

/// A bounded cursor over MAPI property values (MS-OXTNEF 2.1.3.4).
struct Cur<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.b.get(self.at..end)?;
        self.at = end;
        Some(s)
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|s| u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    /// A variable-length value: length, bytes, padding to 4.
    fn var(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        let v = self.take(n)?;
        self.take((4 - n % 4) % 4)?;
        Some(v)
    }
}

/// Finds the long (else short) file name in an `attAttachment` property list.
fn mapi_filename(b: &[u8]) -> Option<String> {
    let mut c = Cur { b, at: 0 };
    let count = c.u32()?;
    let (mut long, mut short) = (None, None);
    for _ in 0..count.min(4096) {
        let ty = c.u16()?;
        let id = c.u16()?;
        if id >= 0x8000 {
            // Named property: GUID, kind, then an id or a name.
            c.take(16)?;
            if c.u32()? == 0 {
                c.u32()?;
            } else {
                c.var()?;
            }
        }
        let multi = ty & 0x1000 != 0;
        let base = ty & 0x0fff;
        let n = if multi { c.u32()?.min(4096) } else { 1 };
        for _ in 0..n {
            match base {
                0x0002 | 0x0003 | 0x0004 | 0x000a | 0x000b => {
                    c.take(4)?;
                }
                0x0005 | 0x0006 | 0x0007 | 0x0014 | 0x0040 => {
                    c.take(8)?;
                }
                0x0048 => {
                    c.take(16)?;
                }
                0x001e | 0x001f | 0x0102 | 0x000d => {
                    // Variable types carry their own count of values (always 1 when single).
                    let vals = if multi { 1 } else { c.u32()?.min(4096) };
                    for _ in 0..vals {
                        let v = c.var()?;
                        let s = match base {
                            0x001f => {
                                let u: Vec<u16> = v
                                    .chunks_exact(2)
                                    .map(|p| u16::from_le_bytes([p[0], p[1]]))
                                    .take_while(|&x| x != 0)
                                    .collect();
                                Some(String::from_utf16_lossy(&u))
                            }
                            0x001e => Some(ansi(v)),
                            _ => None,
                        };
                        match id {
                            PR_ATTACH_LONG_FILENAME => long = s,
                            PR_ATTACH_FILENAME => short = s,
                            _ => {}
                        }
                    }
                }
                _ => return long.or(short),
            }
        }
    }
    long.or(short)
}

/// Builds a TNEF stream with one attachment per `(name, data)`; for tests and fixtures.
pub fn build(attachments: &[(&str, &[u8])]) -> Vec<u8> {
    fn attr(out: &mut Vec<u8>, level: u8, id: u16, ty: u16, value: &[u8]) {
        out.push(level);
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value);
        let sum = value.iter().fold(0u16, |s, &b| s.wrapping_add(b as u16));
        out.extend_from_slice(&sum.to_le_bytes());
    }
    let mut out = TNEF_MAGIC.to_vec();
    out.extend_from_slice(&0x1234u16.to_le_bytes());
    attr(&mut out, 1, 0x9006, 0x0008, &[1, 0, 1, 0]); // attTnefVersion-ish header attribute
    for (name, data) in attachments {
        attr(
            &mut out,
            LVL_ATTACHMENT,
            ATT_ATTACH_RENDDATA,
            0x0006,
            &[0; 14],
        );
        let mut title = name.as_bytes().to_vec();
        title.push(0);
        attr(&mut out, LVL_ATTACHMENT, ATT_ATTACH_TITLE, 0x0001, &title);
        attr(&mut out, LVL_ATTACHMENT, ATT_ATTACH_DATA, 0x0006, data);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_it_builds_and_survives_truncation() {
        let t = build(&[("a.txt", b"hello"), ("setup.exe", b"MZ..")]);
        let r = read(&t, 16);
        assert_eq!(r.attachments.len(), 2);
        assert_eq!(r.attachments[1].name.as_deref(), Some("setup.exe"));
        assert_eq!(r.attachments[1].data, b"MZ..");
        for cut in 0..t.len() {
            let _ = read(&t[..cut], 16);
        }
    }

    #[test]
    fn long_name_from_mapi_properties() {
        let mut props = 1u32.to_le_bytes().to_vec();
        props.extend_from_slice(&0x001fu16.to_le_bytes());
        props.extend_from_slice(&PR_ATTACH_LONG_FILENAME.to_le_bytes());
        props.extend_from_slice(&1u32.to_le_bytes());
        let name: Vec<u8> = "bao-cao.pdf.exe\0"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        props.extend_from_slice(&(name.len() as u32).to_le_bytes());
        props.extend_from_slice(&name);
        props.resize(props.len().div_ceil(4) * 4, 0);
        assert_eq!(mapi_filename(&props).as_deref(), Some("bao-cao.pdf.exe"));
    }
}
