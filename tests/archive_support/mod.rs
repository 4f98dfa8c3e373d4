//! Fixture generators for the archive tests: hand-built zip, RAR 4 and RAR 5 headers, a
//! deflate bomb, and a runner for the Debian tools that write what no crate can.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use locthu::inspect::archive::Budget;

/// A roomy budget: limits that a test does not exercise never trip.
pub fn budget() -> Budget {
    Budget::new(10_000, 256 << 20, 100, Duration::from_secs(20))
}

/// Runs a Debian tool in `dir`; a missing tool fails the test with the package to install.
pub fn run(dir: &Path, tool: &str, package: &str, args: &[&str]) {
    let out = match Command::new(tool).args(args).current_dir(dir).output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("`{tool}` is missing: install the Debian package `{package}` (apt-get install -y {package})")
        }
        Err(e) => panic!("running {tool}: {e}"),
    };
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A temporary directory with the given files written into it.
pub fn dir_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, data) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, data).expect("write fixture");
    }
    dir
}

/// One entry for [`hand_zip`].
pub struct ZipEntry<'a> {
    pub name: &'a [u8],
    pub flags: u16,
    pub method: u16,
    pub crc: u32,
    /// Compressed bytes as stored.
    pub data: &'a [u8],
    /// Uncompressed size declared in both headers.
    pub declared: u32,
}

/// Writes a zip by hand (APPNOTE 4.3.7 local header, 4.3.12 central header, 4.3.16 end of
/// central directory), so tests can make headers lie.
pub fn hand_zip(entries: &[ZipEntry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for e in entries {
        let offset = out.len() as u32;
        out.extend_from_slice(b"PK\x03\x04");
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(&e.flags.to_le_bytes());
        out.extend_from_slice(&e.method.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0x21, 0]); // time, date (1980-01-01)
        out.extend_from_slice(&e.crc.to_le_bytes());
        out.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&e.declared.to_le_bytes());
        out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(e.name);
        out.extend_from_slice(e.data);

        central.extend_from_slice(b"PK\x01\x02");
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&e.flags.to_le_bytes());
        central.extend_from_slice(&e.method.to_le_bytes());
        central.extend_from_slice(&[0, 0, 0x21, 0]);
        central.extend_from_slice(&e.crc.to_le_bytes());
        central.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
        central.extend_from_slice(&e.declared.to_le_bytes());
        central.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0; 8]); // extra len, comment len, disk, internal attrs
        central.extend_from_slice(&0u32.to_le_bytes()); // external attrs
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(e.name);
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// Raw deflate of `mib` MiB of zeros, with its CRC-32, built without compressing all of it:
/// one MiB is compressed with a full flush (byte-aligned, no reference before its start),
/// repeated, and closed by an empty final fixed-Huffman block (bytes 03 00).
pub fn zero_deflate(mib: u32) -> (Vec<u8>, u32) {
    let chunk = vec![0u8; 1 << 20];
    let mut c = flate2::Compress::new(flate2::Compression::best(), false);
    let mut block = Vec::with_capacity(8 << 10);
    c.compress_vec(&chunk, &mut block, flate2::FlushCompress::Full)
        .expect("deflate");
    assert_eq!(c.total_in(), 1 << 20, "one call compresses the whole MiB");
    let mut out = Vec::with_capacity(block.len() * mib as usize + 2);
    let mut crc = crc32fast::Hasher::new();
    let one = {
        let mut h = crc32fast::Hasher::new();
        h.update(&chunk);
        h
    };
    for _ in 0..mib {
        out.extend_from_slice(&block);
        crc.combine(&one);
    }
    out.extend_from_slice(&[0x03, 0x00]);
    (out, crc.finalize())
}

/// gzip (RFC 1952) around a raw deflate stream.
pub fn gzip_wrap(deflate: &[u8], crc: u32, size: u32) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    out.extend_from_slice(deflate);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out
}

// ---- RAR 4 (RARLAB technote.txt, "RAR version 4.x - Technical information") ----
//
// Every block: HEAD_CRC u16 (low half of the CRC-32 of the header from HEAD_TYPE on),
// HEAD_TYPE u8, HEAD_FLAGS u16, HEAD_SIZE u16 (whole header), then the type's fields.
// Marker 52 61 72 21 1A 07 00; MAIN_HEAD 0x73 (RESERVED1 u16, RESERVED2 u32; flag 0x0080 =
// block headers encrypted); FILE_HEAD 0x74 (PACK_SIZE u32, UNP_SIZE u32, HOST_OS u8,
// FILE_CRC u32, FTIME u32, UNP_VER u8, METHOD u8 (0x30 store), NAME_SIZE u16, ATTR u32,
// FILE_NAME, [SALT 8 bytes if 0x0400]; flag 0x8000 always, 0x0004 = encrypted, 0x0200 =
// unicode name) followed by PACK_SIZE bytes of data; ENDARC 0x7B.

pub const RAR4_MARKER: &[u8] = b"Rar!\x1a\x07\x00";

/// One RAR 4 block with a correct HEAD_CRC.
pub fn rar4_block(kind: u8, flags: u16, fields: &[u8]) -> Vec<u8> {
    let mut h = vec![kind];
    h.extend_from_slice(&flags.to_le_bytes());
    h.extend_from_slice(&((7 + fields.len()) as u16).to_le_bytes());
    h.extend_from_slice(fields);
    let crc = (crc32fast::hash(&h) & 0xffff) as u16;
    let mut out = crc.to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out
}

/// MAIN_HEAD; `encrypted_headers` sets flag 0x0080.
pub fn rar4_main(encrypted_headers: bool) -> Vec<u8> {
    rar4_block(0x73, if encrypted_headers { 0x0080 } else { 0 }, &[0; 6])
}

/// A stored FILE_HEAD plus its data; `encrypted` sets 0x0004 (and a salt, as RAR 3+ writes).
pub fn rar4_file(name: &[u8], data: &[u8], encrypted: bool, extra_flags: u16) -> Vec<u8> {
    let mut flags = 0x8000 | extra_flags;
    let mut f = Vec::new();
    f.extend_from_slice(&(data.len() as u32).to_le_bytes());
    f.extend_from_slice(&(data.len() as u32).to_le_bytes());
    f.push(2); // Windows
    f.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    f.extend_from_slice(&0u32.to_le_bytes());
    f.push(29);
    f.push(0x30);
    f.extend_from_slice(&(name.len() as u16).to_le_bytes());
    f.extend_from_slice(&0x20u32.to_le_bytes());
    f.extend_from_slice(name);
    if encrypted {
        flags |= 0x0004 | 0x0400;
        f.extend_from_slice(&[0x5a; 8]);
    }
    let mut out = rar4_block(0x74, flags, &f);
    out.extend_from_slice(data);
    out
}

pub fn rar4_end() -> Vec<u8> {
    rar4_block(0x7b, 0x4000, &[])
}

// ---- RAR 5 (RARLAB "RAR 5.0 archive format") ----
//
// Signature 52 61 72 21 1A 07 01 00. Every header: CRC32 u32 (of the size field and the
// header data), header size vint, header type vint, header flags vint (0x0001 extra area,
// 0x0002 data area), [extra area size vint], [data size vint], type fields, extra area, then
// data. Types: 1 main, 2 file, 3 service, 4 archive encryption (all later headers encrypted),
// 5 end. File fields: file flags vint (0x0001 directory), unpacked size vint, attributes vint,
// compression information vint (bits 7–9 method, 0 = store), host OS vint, name length vint,
// UTF-8 name. Extra record: size vint, type vint (0x01 = file encryption), data.

pub const RAR5_MARKER: &[u8] = b"Rar!\x1a\x07\x01\x00";

pub fn vint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

/// One RAR 5 header with a correct CRC, followed by its data area.
pub fn rar5_header(kind: u64, fields: &[u8], extra: &[u8], data: &[u8]) -> Vec<u8> {
    let mut flags = 0;
    if !extra.is_empty() {
        flags |= 1;
    }
    if !data.is_empty() {
        flags |= 2;
    }
    let mut h = vint(kind);
    h.extend(vint(flags));
    if !extra.is_empty() {
        h.extend(vint(extra.len() as u64));
    }
    if !data.is_empty() {
        h.extend(vint(data.len() as u64));
    }
    h.extend_from_slice(fields);
    h.extend_from_slice(extra);
    let mut sized = vint(h.len() as u64);
    sized.extend(h);
    let mut out = crc32fast::hash(&sized).to_le_bytes().to_vec();
    out.extend(sized);
    out.extend_from_slice(data);
    out
}

pub fn rar5_main() -> Vec<u8> {
    rar5_header(1, &vint(0), &[], &[])
}

/// A stored file header; `encrypted` adds a file encryption extra record (type 0x01: version,
/// flags, KDF count, 16-byte salt, 16-byte IV).
pub fn rar5_file(name: &str, data: &[u8], encrypted: bool) -> Vec<u8> {
    let mut f = vint(0); // file flags
    f.extend(vint(data.len() as u64));
    f.extend(vint(0x20));
    f.extend(vint(0)); // stored
    f.extend(vint(0)); // Windows
    f.extend(vint(name.len() as u64));
    f.extend_from_slice(name.as_bytes());
    let extra = if encrypted {
        let mut rec = vint(0x01);
        rec.extend(vint(0));
        rec.extend(vint(0));
        rec.push(15);
        rec.extend_from_slice(&[0x11; 32]);
        let mut e = vint(rec.len() as u64);
        e.extend(rec);
        e
    } else {
        Vec::new()
    };
    rar5_header(2, &f, &extra, data)
}

/// Archive encryption header: version 0, flags 0, KDF count, 16-byte salt.
pub fn rar5_crypt() -> Vec<u8> {
    let mut f = vint(0);
    f.extend(vint(0));
    f.push(15);
    f.extend_from_slice(&[0x22; 16]);
    rar5_header(4, &f, &[], &[])
}

pub fn rar5_end() -> Vec<u8> {
    rar5_header(5, &vint(0), &[], &[])
}

/// Concatenates parts.
pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.write_all(p).expect("vec write");
    }
    out
}
