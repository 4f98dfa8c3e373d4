//! A generator of hostile (and clean) messages for the inspection tests: every disguise a
//! sender uses to get a program through, built from scratch with the zip and cfb crates, and
//! `zip`/`7z` from Debian (`zip`, `p7zip-full`) where a crate cannot write the format.
#![allow(dead_code)]

use std::io::{Cursor, Write};
use std::path::Path;
use std::process::Command;

use locthu::checks::inspect::{InspectConfig, Inspector};

// The RAR header builders of the archive tests, shared rather than written twice.
#[path = "../archive_support/mod.rs"]
mod archive_support;
use locthu::engine::{Action, Finding};

// ---------------------------------------------------------------------------------------------
// Encodings

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Base64 in 76-char lines with CRLF (RFC 2045 6.8).
pub fn base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() * 4 / 3 + data.len() / 38 + 4);
    let mut line = 0;
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
        line += 4;
        if line == 76 {
            out.push_str("\r\n");
            line = 0;
        }
    }
    if line > 0 {
        out.push_str("\r\n");
    }
    out
}

/// An RFC 2047 `B` encoded word.
pub fn encoded_word(s: &str) -> String {
    format!("=?UTF-8?B?{}?=", base64(s.as_bytes()).trim_end())
}

/// RFC 2231 continuations with a charset: `name*0*=utf-8''…; name*1*=…`, 10 bytes a section.
pub fn rfc2231(param: &str, value: &str) -> String {
    let enc: String = value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let mut parts = Vec::new();
    let mut rest = enc.as_str();
    let mut i = 0;
    while !rest.is_empty() {
        // Never split a %XX escape.
        let mut cut = rest.len().min(10);
        while cut < rest.len() && rest[..cut].rfind('%').is_some_and(|p| p + 3 > cut) {
            cut += 1;
        }
        let (head, tail) = rest.split_at(cut);
        let prefix = if i == 0 { "utf-8''" } else { "" };
        parts.push(format!("{param}*{i}*={prefix}{head}"));
        rest = tail;
        i += 1;
    }
    parts.join(";\r\n ")
}

// ---------------------------------------------------------------------------------------------
// Messages

/// A part with a header block and a body (already encoded).
pub struct PartSpec {
    pub headers: String,
    pub body: String,
}

/// An attachment with `filename=` and `name=` both set, base64 encoded.
pub fn attachment(name: &str, data: &[u8]) -> PartSpec {
    PartSpec {
        headers: format!(
            "Content-Type: application/octet-stream; name=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\n"
        ),
        body: base64(data),
    }
}

/// An attachment with a given Content-Type and raw parameter text for both headers.
pub fn attachment_raw(ctype_params: &str, disposition: &str, data: &[u8]) -> PartSpec {
    let mut headers =
        format!("Content-Type: {ctype_params}\r\nContent-Transfer-Encoding: base64\r\n");
    if !disposition.is_empty() {
        headers.push_str(&format!("Content-Disposition: {disposition}\r\n"));
    }
    PartSpec {
        headers,
        body: base64(data),
    }
}

/// A text/plain part.
pub fn text(body: &str) -> PartSpec {
    PartSpec {
        headers: "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
            .into(),
        body: body.replace('\n', "\r\n"),
    }
}

/// An attached message (`message/rfc822`), optionally named.
pub fn rfc822(name: Option<&str>, msg: &[u8]) -> PartSpec {
    let mut headers = "Content-Type: message/rfc822\r\n".to_string();
    if let Some(n) = name {
        headers.push_str(&format!(
            "Content-Disposition: attachment; filename=\"{n}\"\r\n"
        ));
    }
    PartSpec {
        headers,
        body: String::from_utf8_lossy(msg).into_owned(),
    }
}

/// A multipart/mixed message with a subject and parts.
pub fn message(subject: &str, parts: Vec<PartSpec>) -> Vec<u8> {
    let boundary = format!("=_locthu_{}", parts.len() * 7919 + subject.len());
    let mut m = format!(
        "From: nguoigui@example.com\r\nTo: vanthu@laichau.gov.vn\r\nSubject: {}\r\n\
         Date: Mon, 2 Nov 2026 08:00:00 +0700\r\nMessage-ID: <{}@example.com>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n",
        encoded_word(subject),
        boundary.trim_start_matches("=_")
    );
    for p in parts {
        m.push_str(&format!("--{boundary}\r\n{}\r\n{}", p.headers, p.body));
        if !p.body.ends_with("\r\n") {
            m.push_str("\r\n");
        }
    }
    m.push_str(&format!("--{boundary}--\r\n"));
    m.into_bytes()
}

/// The usual shape: a short Vietnamese body and one attachment.
pub fn with_attachment(name: &str, data: &[u8]) -> Vec<u8> {
    message(
        "Gửi tài liệu",
        vec![
            text("Kính gửi anh/chị, tài liệu đính kèm.\n"),
            attachment(name, data),
        ],
    )
}

// ---------------------------------------------------------------------------------------------
// Payloads

/// A minimal PE: MZ header whose e_lfanew points to "PE\0\0" and a COFF header.
pub fn pe() -> Vec<u8> {
    let mut v = vec![0u8; 1024];
    v[..2].copy_from_slice(b"MZ");
    v[2] = 0x90;
    v[4] = 3;
    v[8] = 4;
    v[0x3c] = 0x80;
    v[0x80..0x84].copy_from_slice(b"PE\0\0");
    v[0x84..0x86].copy_from_slice(&0x8664u16.to_le_bytes());
    v[0x4e..0x4e + 39].copy_from_slice(b"This program cannot be run in DOS mode.");
    v
}

/// A minimal ELF64 header.
pub fn elf() -> Vec<u8> {
    let mut v = vec![0u8; 256];
    v[..4].copy_from_slice(b"\x7fELF");
    v[4] = 2;
    v[5] = 1;
    v[6] = 1;
    v[16] = 2;
    v[18] = 0x3e;
    v
}

/// A thin 64-bit Mach-O header (little-endian, x86_64).
pub fn macho() -> Vec<u8> {
    let mut v = vec![0u8; 256];
    v[..4].copy_from_slice(&0xFEED_FACFu32.to_le_bytes());
    v[4..8].copy_from_slice(&0x0100_0007u32.to_le_bytes());
    v[12..16].copy_from_slice(&2u32.to_le_bytes());
    v
}

/// A universal Mach-O with two architectures (x86_64, arm64).
pub fn macho_fat() -> Vec<u8> {
    let mut v = vec![0u8; 8192];
    v[..4].copy_from_slice(&0xCAFE_BABEu32.to_be_bytes());
    v[4..8].copy_from_slice(&2u32.to_be_bytes());
    let archs = [(0x0100_0007u32, 4096u32), (0x0100_000Cu32, 6144u32)];
    for (i, (cpu, off)) in archs.iter().enumerate() {
        let at = 8 + i * 20;
        v[at..at + 4].copy_from_slice(&cpu.to_be_bytes());
        v[at + 8..at + 12].copy_from_slice(&off.to_be_bytes());
        v[at + 12..at + 16].copy_from_slice(&1024u32.to_be_bytes());
        let o = *off as usize;
        v[o..o + 4].copy_from_slice(&0xFEED_FACFu32.to_le_bytes());
    }
    v
}

/// A Java class file header (CAFEBABE, version 52): not a Mach-O.
pub fn java_class() -> Vec<u8> {
    let mut v = vec![0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52];
    v.extend_from_slice(&[0; 64]);
    v
}

/// A Windows shortcut header (MS-SHLLINK 2.1).
pub fn lnk() -> Vec<u8> {
    let mut v = vec![0u8; 0x4c];
    v[..4].copy_from_slice(&0x4cu32.to_le_bytes());
    v[4..20].copy_from_slice(&[
        0x01, 0x14, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x46,
    ]);
    v.extend_from_slice(b"C:\\Windows\\System32\\cmd.exe\0");
    v
}

/// An OLE compound file built with the cfb crate: `clsid` on the root, and the given streams.
fn ole(clsid: Option<[u8; 16]>, streams: &[&str]) -> Vec<u8> {
    let mut comp = cfb::CompoundFile::create(Cursor::new(Vec::new())).expect("cfb");
    if let Some(c) = clsid {
        comp.set_storage_clsid("/", uuid_from_le(c)).expect("clsid");
    }
    for s in streams {
        let path = Path::new(s);
        if let Some(parent) = path.parent() {
            if parent != Path::new("/") {
                comp.create_storage_all(parent).expect("storage");
            }
        }
        let mut st = comp.create_stream(path).expect("stream");
        st.write_all(b"\x01\x02\x03 locthu test stream")
            .expect("write");
    }
    comp.flush().expect("flush");
    comp.into_inner().into_inner()
}

fn uuid_from_le(b: [u8; 16]) -> uuid::Uuid {
    // MS-CFB stores the first three CLSID fields little-endian.
    let d1 = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let d2 = u16::from_le_bytes([b[4], b[5]]);
    let d3 = u16::from_le_bytes([b[6], b[7]]);
    let mut d4 = [0u8; 8];
    d4.copy_from_slice(&b[8..]);
    uuid::Uuid::from_fields(d1, d2, d3, &d4)
}

/// A Windows Installer package: root CLSID {000C1084-0000-0000-C000-000000000046}.
pub fn msi() -> Vec<u8> {
    ole(
        Some([
            0x84, 0x10, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x46,
        ]),
        &["/\u{5}SummaryInformation"],
    )
}

/// A legacy Word document with a VBA project (`Macros/VBA/_VBA_PROJECT`).
pub fn doc_with_macros() -> Vec<u8> {
    ole(
        None,
        &[
            "/WordDocument",
            "/Macros/VBA/_VBA_PROJECT",
            "/Macros/VBA/dir",
            "/Macros/PROJECT",
        ],
    )
}

/// A legacy Word document without macros.
pub fn doc_plain() -> Vec<u8> {
    ole(
        None,
        &["/WordDocument", "/1Table", "/\u{5}SummaryInformation"],
    )
}

/// A zip built with the zip crate from `(name, data)` members.
pub fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in members {
        w.start_file(*name, opts).expect("zip entry");
        w.write_all(data).expect("zip write");
    }
    w.finish().expect("zip finish").into_inner()
}

/// A zip with AES-256 encrypted members (zip crate; extra field 0x9901).
pub fn zip_aes(members: &[(&str, &[u8])], password: &str) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .with_aes_encryption(zip::AesMode::Aes256, password);
    for (name, data) in members {
        w.start_file(*name, opts).expect("zip entry");
        w.write_all(data).expect("zip write");
    }
    w.finish().expect("zip finish").into_inner()
}

/// Runs a Debian tool in a temp dir holding `files`; returns the bytes of `out`.
fn tool(files: &[(&str, &[u8])], cmd: &str, args: &[&str], out: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, data) in files {
        std::fs::write(dir.path().join(name), data).expect("write");
    }
    let st = Command::new(cmd)
        .args(args)
        .current_dir(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("{cmd} (Debian package needed): {e}"));
    assert!(
        st.status.success(),
        "{cmd} failed: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    std::fs::read(dir.path().join(out)).expect("tool output")
}

/// A ZipCrypto-encrypted zip made by Debian's `zip -P`.
pub fn zip_zipcrypto(members: &[(&str, &[u8])], password: &str) -> Vec<u8> {
    let mut args = vec!["-q", "-P", password, "out.zip"];
    args.extend(members.iter().map(|(n, _)| *n));
    tool(members, "zip", &args, "out.zip")
}

/// A gzip-compressed tar made by Debian's `tar czf`.
pub fn tar_gz(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut args = vec!["czf", "out.tgz"];
    args.extend(members.iter().map(|(n, _)| *n));
    tool(members, "tar", &args, "out.tgz")
}

/// A 7z with encrypted content and headers (`7z a -p -mhe=on`, Debian p7zip-full).
pub fn sevenz_encrypted_headers(members: &[(&str, &[u8])], password: &str) -> Vec<u8> {
    let p = format!("-p{password}");
    let mut args = vec!["a", "-bso0", "-bsp0", p.as_str(), "-mhe=on", "out.7z"];
    args.extend(members.iter().map(|(n, _)| *n));
    tool(members, "7z", &args, "out.7z")
}

/// A zip whose one member expands to 1 GiB of zeros (`head -c 1G /dev/zero | zip`).
pub fn zip_bomb_1gb() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("bomb.zip");
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c 1073741824 /dev/zero | zip -q {} -",
            out.display()
        ))
        .status()
        .expect("sh and zip (Debian zip package)");
    assert!(st.success(), "zip failed");
    std::fs::read(out).expect("bomb")
}

// RAR 5 (RARLAB "RAR 5.0 archive format"): no Debian tool writes RAR, so headers by hand, with
// the builders of tests/archive_support.

/// A RAR 5 archive of `(name, data, compressed)` members. A "compressed" member declares
/// method 3 and carries `data` as its packed bytes, which no reader here decodes.
pub fn rar5(members: &[(&str, &[u8], bool)]) -> Vec<u8> {
    use archive_support::{rar5_end, rar5_header, rar5_main, vint, RAR5_MARKER};
    let mut out = RAR5_MARKER.to_vec();
    out.extend(rar5_main());
    for (name, data, compressed) in members {
        let mut f = vint(0);
        f.extend(vint(data.len() as u64 * if *compressed { 3 } else { 1 }));
        f.extend(vint(0x20));
        f.extend(vint(if *compressed { 3 << 7 } else { 0 }));
        f.extend(vint(0));
        f.extend(vint(name.len() as u64));
        f.extend_from_slice(name.as_bytes());
        out.extend(rar5_header(2, &f, &[], data));
    }
    out.extend(rar5_end());
    out
}

/// A RAR 5 archive whose headers are encrypted (`rar a -hp`): only the encryption header
/// is readable.
pub fn rar5_encrypted_headers() -> Vec<u8> {
    let mut out = archive_support::RAR5_MARKER.to_vec();
    out.extend(archive_support::rar5_crypt());
    out.extend((0..512u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    out
}

const CONTENT_TYPES_DOCX: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;
const RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#;
const DOCUMENT: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Báo cáo tình hình tháng 10</w:t></w:r></w:p></w:body></w:document>"#;

/// A DOCX: content types, package relationships, the main document.
pub fn docx() -> Vec<u8> {
    zip(&[
        ("[Content_Types].xml", CONTENT_TYPES_DOCX.as_bytes()),
        ("_rels/.rels", RELS.as_bytes()),
        ("word/document.xml", DOCUMENT.as_bytes()),
    ])
}

/// A DOCM: a DOCX with `word/vbaProject.bin` (an OLE VBA project).
pub fn docm() -> Vec<u8> {
    let ct = CONTENT_TYPES_DOCX
        .replace(
            "wordprocessingml.document.main+xml",
            "application/vnd.ms-word.document.macroEnabled.main+xml",
        )
        .replace(
            "<Default Extension=\"xml\"",
            "<Default Extension=\"bin\" ContentType=\"application/vnd.ms-office.vbaProject\"/><Default Extension=\"xml\"",
        );
    let vba = ole(None, &["/VBA/_VBA_PROJECT", "/VBA/dir", "/PROJECT"]);
    zip(&[
        ("[Content_Types].xml", ct.as_bytes()),
        ("_rels/.rels", RELS.as_bytes()),
        ("word/document.xml", DOCUMENT.as_bytes()),
        ("word/vbaProject.bin", &vba),
    ])
}

/// An XLSX: workbook, one sheet, relationships.
pub fn xlsx() -> Vec<u8> {
    let ct = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#;
    let rels = RELS.replace("word/document.xml", "xl/workbook.xml");
    let wb = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Tong hop" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
    let wbrels = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#;
    let sheet = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1"><v>42</v></c></row></sheetData></worksheet>"#;
    zip(&[
        ("[Content_Types].xml", ct.as_bytes()),
        ("_rels/.rels", rels.as_bytes()),
        ("xl/workbook.xml", wb.as_bytes()),
        ("xl/_rels/workbook.xml.rels", wbrels.as_bytes()),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
    ])
}

/// A valid one-page PDF with a correct cross-reference table.
pub fn pdf() -> Vec<u8> {
    let objs = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        "<< /Length 44 >>\nstream\nBT /F1 18 Tf 72 770 Td (Bao cao) Tj ET\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ];
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).as_bytes());
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objs.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A valid 8×8 grey baseline JPEG: one block whose DC difference and AC run are both empty,
/// with one-symbol Huffman tables.
pub fn jpeg() -> Vec<u8> {
    let mut v = vec![0xff, 0xd8];
    // APP0 JFIF
    v.extend_from_slice(&[
        0xff, 0xe0, 0, 16, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0,
    ]);
    // DQT: table 0, all ones
    v.extend_from_slice(&[0xff, 0xdb, 0, 67, 0]);
    v.extend_from_slice(&[1u8; 64]);
    // SOF0: 8-bit, 8x8, one component
    v.extend_from_slice(&[0xff, 0xc0, 0, 11, 8, 0, 8, 0, 8, 1, 1, 0x11, 0]);
    // DHT DC 0: one code of length 1 for category 0
    v.extend_from_slice(&[
        0xff, 0xc4, 0, 20, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    // DHT AC 0: one code of length 1 for EOB (0x00)
    v.extend_from_slice(&[
        0xff, 0xc4, 0, 20, 0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    // SOS
    v.extend_from_slice(&[0xff, 0xda, 0, 8, 1, 1, 0x00, 0, 63, 0]);
    // Entropy-coded data: DC "0", EOB "0", padded with ones.
    v.push(0x3f);
    v.extend_from_slice(&[0xff, 0xd9]);
    v
}

/// A text/calendar invitation (RFC 5545) as the body of a multipart/alternative.
pub fn calendar_invite() -> Vec<u8> {
    let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//locthu//test//VI\r\nMETHOD:REQUEST\r\n\
BEGIN:VEVENT\r\nUID:20261102T080000-1@laichau.gov.vn\r\nDTSTAMP:20261101T010000Z\r\n\
DTSTART:20261102T010000Z\r\nDTEND:20261102T030000Z\r\nSUMMARY:Họp giao ban tuần\r\n\
ORGANIZER:mailto:vanthu@laichau.gov.vn\r\nATTENDEE;RSVP=TRUE:mailto:ubnd@laichau.gov.vn\r\n\
END:VEVENT\r\nEND:VCALENDAR\r\n";
    format!(
        "From: vanthu@laichau.gov.vn\r\nTo: ubnd@laichau.gov.vn\r\nSubject: Moi hop\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n\
--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nMời họp giao ban tuần.\r\n\
--alt\r\nContent-Type: text/calendar; charset=utf-8; method=REQUEST\r\n\r\n{ics}\
--alt\r\nContent-Type: application/ics; name=\"invite.ics\"\r\nContent-Disposition: attachment; filename=\"invite.ics\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\
--alt--\r\n",
        base64(ics.as_bytes())
    )
    .into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Judging

/// An inspector with the site defaults and the repository's executable list.
pub fn inspector() -> Inspector {
    inspector_with(InspectConfig::default())
}

pub fn inspector_with(cfg: InspectConfig) -> Inspector {
    Inspector::new(&cfg, Path::new(env!("CARGO_MANIFEST_DIR"))).expect("valid config")
}

/// Asserts a finding of `rule` with `action` on `part` exists, printing all on failure.
pub fn assert_finding(findings: &[Finding], rule: &str, action: Action, part: Option<&str>) {
    let hit = findings
        .iter()
        .any(|f| f.rule == rule && f.action == action && f.part.as_deref() == part);
    assert!(
        hit,
        "expected {rule}/{action} on {part:?}; got:\n{}",
        describe(findings)
    );
}

/// Asserts there is no finding at all.
pub fn assert_clean(findings: &[Finding]) {
    assert!(
        findings.is_empty(),
        "expected no finding; got:\n{}",
        describe(findings)
    );
}

pub fn describe(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| format!("  {} {} {:?}: {}", f.rule, f.action, f.part, f.text.en))
        .collect::<Vec<_>>()
        .join("\n")
}
