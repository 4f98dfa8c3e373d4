//! Uuencoded blocks inside text parts (`begin 644 name` … `end`), which mail clients still
//! offer as attachments.

/// One decoded block.
#[derive(Debug)]
pub struct Block {
    pub name: String,
    pub data: Vec<u8>,
}

/// Finds and decodes up to `max_blocks` blocks; decoding stops at `max_bytes` per block, and a
/// block without `end` keeps what was decoded (a client shows it too).
pub fn blocks(text: &[u8], max_blocks: usize, max_bytes: usize) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = text
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    while out.len() < max_blocks {
        let Some(line) = lines.next() else { break };
        let Some(rest) = line.strip_prefix(b"begin ") else {
            continue;
        };
        // `begin <octal mode> <name>`
        let rest = String::from_utf8_lossy(rest);
        let mut it = rest.trim_start().splitn(2, ' ');
        let mode = it.next().unwrap_or("");
        let Some(name) = it.next() else { continue };
        if mode.is_empty() || !mode.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            continue;
        }
        let mut data = Vec::new();
        for l in lines.by_ref() {
            if l == b"end" || l.starts_with(b"end ") {
                break;
            }
            if l.is_empty() {
                continue;
            }
            let n = (l[0].wrapping_sub(b' ') & 0x3f) as usize;
            if n == 0 {
                continue;
            }
            let body = &l[1..];
            let mut got = 0;
            for q in body.chunks(4) {
                let c = |i: usize| q.get(i).map_or(0, |&b| b.wrapping_sub(b' ') & 0x3f);
                let bytes = [
                    (c(0) << 2) | (c(1) >> 4),
                    (c(1) << 4) | (c(2) >> 2),
                    (c(2) << 6) | c(3),
                ];
                for b in bytes {
                    if got < n && data.len() < max_bytes {
                        data.push(b);
                        got += 1;
                    }
                }
            }
        }
        out.push(Block {
            name: name.trim().to_string(),
            data,
        });
    }
    out
}

/// Uuencodes `data` as a block named `name` (for tests and fixtures).
pub fn encode(name: &str, data: &[u8]) -> String {
    let enc = |v: u8| if v == 0 { '`' } else { (v + b' ') as char };
    let mut s = format!("begin 644 {name}\n");
    for chunk in data.chunks(45) {
        s.push(enc(chunk.len() as u8));
        for t in chunk.chunks(3) {
            let b = |i: usize| t.get(i).copied().unwrap_or(0);
            s.push(enc(b(0) >> 2));
            s.push(enc(((b(0) << 4) | (b(1) >> 4)) & 0x3f));
            s.push(enc(((b(1) << 2) | (b(2) >> 6)) & 0x3f));
            s.push(enc(b(2) & 0x3f));
        }
        s.push('\n');
    }
    s.push_str("`\nend\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let text = format!("Hello\r\n\r\n{}\r\nbye\r\n", encode("a b.exe", &data));
        let b = blocks(text.as_bytes(), 4, 1 << 20);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].name, "a b.exe");
        assert_eq!(b[0].data, data);
    }
}
