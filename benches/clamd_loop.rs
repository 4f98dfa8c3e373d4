//! Messages per second one clamd sustains: a plain INSTREAM loop (the limit, written here with
//! bare tokio and nothing from locthu) beside locthu's antivirus check, on the same messages
//! and the same clamd, in the same run. The ratio is the figure (DESIGN.md, "Measuring speed");
//! issue 5 asks for at least 0.7.
//!
//! `benches/clamd_loop.sh` starts a throwaway clamd and runs this; or point it at one:
//! `CLAMD=127.0.0.1:3310 SESSIONS=20 SIZE=100000 SECS=10 cargo bench --bench clamd_loop`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use locthu::checks::antivirus::{build, AntivirusConfig};
use locthu::config::{ByteSize, Span};
use locthu::engine::{Check, Client, Connection, Envelope, Role};
use locthu::spool::Spool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A mail of about `size` bytes: a text part and a base64 attachment of pseudo-random bytes.
fn message(size: usize) -> Vec<u8> {
    let raw = size * 3 / 4;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let data: Vec<u8> = (0..raw)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = Vec::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            b64.push(if i <= c.len() {
                T[(n >> (18 - 6 * i)) as usize & 63]
            } else {
                b'='
            });
        }
    }
    let mut m =
        b"From: a@example.com\r\nTo: b@ubnd.gov.vn\r\nSubject: bench\r\nMIME-Version: 1.0\r\n\
                  Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
                  Content-Type: text/plain\r\n\r\nBao cao.\r\n--b\r\n\
                  Content-Type: application/pdf; name=\"a.pdf\"\r\n\
                  Content-Transfer-Encoding: base64\r\n\r\n"
            .to_vec();
    for line in b64.chunks(76) {
        m.extend_from_slice(line);
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(b"--b--\r\n");
    m
}

/// One plain INSTREAM exchange: the baseline, independent of locthu's client.
async fn raw_scan(addr: &str, msg: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    s.write_all(b"zINSTREAM\0").await?;
    for chunk in msg.chunks(64 * 1024) {
        s.write_all(&(chunk.len() as u32).to_be_bytes()).await?;
        s.write_all(chunk).await?;
    }
    s.write_all(&[0, 0, 0, 0]).await?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).await?;
    Ok(reply)
}

fn conn() -> Connection {
    Connection {
        id: 0,
        listener: "bench".into(),
        role: Role::Inbound,
        client: Client {
            addr: "192.0.2.1:40000".parse().expect("addr"),
            name: None,
            helo: None,
            login: None,
            trusted: false,
            addr_unavailable: false,
        },
        tls: false,
    }
}

/// Runs `sessions` loops of `one` for `secs` and returns messages per second.
async fn run<F, Fut>(sessions: usize, secs: f64, one: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..sessions {
        let (stop, count, failed, one) = (stop.clone(), count.clone(), failed.clone(), one.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if one().await {
                    count.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let n = count.load(Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    for t in tasks {
        let _ = t.await;
    }
    let f = failed.load(Ordering::Relaxed);
    assert!(
        f == 0,
        "{f} scans failed: is clamd running at the address given?"
    );
    n as f64 / elapsed
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` runs bench binaries too, without `--bench`: building it is
    // the test there; it needs a running clamd only when measuring.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let addr: String = env("CLAMD", "127.0.0.1:3310".to_string());
    let sessions: usize = env("SESSIONS", 20);
    let size: usize = env("SIZE", 100_000);
    let secs: f64 = env("SECS", 10.0);
    let msg = Arc::new(message(size));
    raw_scan(&addr, b"ping")
        .await
        .unwrap_or_else(|e| panic!("clamd at {addr}: {e} (set CLAMD=host:port)"));

    let cfg = AntivirusConfig {
        enabled: true,
        endpoints: vec![addr.clone()],
        scan_timeout: Span::secs(60),
        stream_max: ByteSize(msg.len() as u64 * 2),
        verify_stream_max: false,
        ..Default::default()
    };
    let check: Arc<dyn Check> = build(&cfg).expect("config");

    // clamd caches clean verdicts by content hash: identical bytes would measure its cache,
    // not its scanning. Every message gets its own header, as real mail has its own Message-ID.
    let seq = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let unique = move |msg: &[u8]| {
        let n = seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        [format!("X-Seq: {n}\r\n").as_bytes(), msg].concat()
    };
    let raw = {
        let (addr, msg, unique) = (addr.clone(), msg.clone(), unique.clone());
        move || {
            let (addr, msg) = (addr.clone(), unique(&msg));
            async move { matches!(raw_scan(&addr, &msg).await, Ok(r) if r.starts_with(b"stream: OK")) }
        }
    };
    let ours = {
        let (check, msg) = (check.clone(), msg.clone());
        move || {
            let (check, msg) = (check.clone(), unique(&msg));
            async move {
                // As the gateway does: the message is in the spool (in memory at this size).
                let spool = Spool::from_bytes(msg);
                check
                    .data(&conn(), &Envelope::default(), &spool)
                    .await
                    .is_empty()
            }
        }
    };

    println!(
        "clamd {addr}, {sessions} sessions, {} byte messages, {secs} s per run",
        msg.len()
    );
    // Warm up, then raw, ours, raw again: the two raw runs show how noisy the machine is.
    run(sessions, 1.0, raw.clone()).await;
    let raw1 = run(sessions, secs, raw.clone()).await;
    let locthu = run(sessions, secs, ours).await;
    let raw2 = run(sessions, secs, raw).await;
    let base = (raw1 + raw2) / 2.0;
    println!("plain INSTREAM loop: {raw1:.1} msg/s, then {raw2:.1} msg/s");
    println!("locthu antivirus:    {locthu:.1} msg/s");
    println!("ratio locthu/plain:  {:.2}", locthu / base);
}
