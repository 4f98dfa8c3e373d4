//! Starts a real clamd for a test: its own signature database (EICAR), config, loopback TCP
//! port and Unix socket in a temporary directory; killed when dropped.
//!
//! clamd is required, not optional: without it these tests fail with a message saying what to
//! install (Debian's `clamav-daemon`, which `.ci/run` installs). `LOCTHU_CLAMD` overrides the
//! path of the binary.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use locthu::checks::antivirus::{build, AntivirusConfig};
use locthu::config::{ByteSize, Span};
use locthu::engine::{Check, Client, Connection, Envelope, Finding, Role};
use locthu::spool::Spool;

/// The EICAR test file (68 bytes), which every antivirus detects by convention.
pub const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// A hash signature for the whole EICAR file: MD5, size, name (ClamAV `.hdb` format).
const EICAR_HDB: &str = "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n";
/// A body signature for its first 40 bytes anywhere in any file (ClamAV `.ndb` format), so
/// EICAR inside a longer text part is found too.
const EICAR_NDB: &str =
    "Eicar-Body-Signature:0:*:58354f2150254041505b345c505a58353428505e2937434329377d2445494341522d5354414e4441\n";

/// How long clamd may take to answer PING after start; a tiny database loads in about a
/// second, the margin is for a loaded 2-core CI machine.
const START_DEADLINE: Duration = Duration::from_secs(60);

pub struct Clamd {
    child: Option<Child>,
    bin: PathBuf,
    conf: PathBuf,
    pub dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`.
    pub tcp: String,
    /// `unix:/tmp/.../clamd.sock`.
    pub unix: String,
    /// Time from spawn to the first PONG.
    pub started_in: Duration,
}

impl Clamd {
    /// Starts clamd with `StreamMaxLength stream_max` (clamd syntax: `1M`, `512K`), any
    /// `extra` config lines, and both EICAR signatures.
    pub fn start(stream_max: &str, extra: &[&str]) -> Clamd {
        Clamd::start_with(stream_max, extra, true)
    }

    /// Like [`Clamd::start`]; without `body_signature` only the whole-file hash signature is
    /// loaded, so a detection proves clamd decoded or extracted the exact 68-byte file.
    pub fn start_with(stream_max: &str, extra: &[&str], body_signature: bool) -> Clamd {
        let bin = std::env::var_os("LOCTHU_CLAMD")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/sbin/clamd"));
        assert!(
            bin.exists(),
            "clamd not found at {}: these tests need a real clamd. Install Debian's \
             clamav-daemon (apt-get install clamav-daemon; .ci/run does) or set LOCTHU_CLAMD",
            bin.display()
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("db");
        std::fs::create_dir(&db).unwrap();
        std::fs::write(db.join("eicar.hdb"), EICAR_HDB).unwrap();
        if body_signature {
            std::fs::write(db.join("eicar.ndb"), EICAR_NDB).unwrap();
        }
        let port = free_port();
        let sock = dir.path().join("clamd.sock");
        let log = dir.path().join("clamd.log");
        let mut conf = format!(
            "Foreground yes\n\
             DatabaseDirectory {db}\n\
             TCPSocket {port}\n\
             TCPAddr 127.0.0.1\n\
             LocalSocket {sock}\n\
             StreamMaxLength {stream_max}\n\
             TemporaryDirectory {tmp}\n\
             LogFile {log}\n\
             LogTime yes\n\
             LogVerbose yes\n\
             AlertExceedsMax yes\n\
             SelfCheck 3600\n",
            db = db.display(),
            sock = sock.display(),
            tmp = dir.path().display(),
            log = log.display(),
        );
        for line in extra {
            conf.push_str(line);
            conf.push('\n');
        }
        let conf_path = dir.path().join("clamd.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut clamd = Clamd {
            child: None,
            bin,
            conf: conf_path,
            tcp: format!("127.0.0.1:{port}"),
            unix: format!("unix:{}", sock.display()),
            dir,
            started_in: Duration::ZERO,
        };
        clamd.spawn();
        clamd
    }

    /// Starts clamd again (same config, port and socket) after [`Clamd::kill`].
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn spawn(&mut self) {
        let started = Instant::now();
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(&self.conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        self.child = Some(child);
        let clamd = self;
        loop {
            if ping(&clamd.tcp) {
                break;
            }
            if let Some(status) = clamd
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "clamd exited at start ({status}); its log:\n{}",
                    clamd.log()
                );
            }
            if started.elapsed() > START_DEADLINE {
                panic!(
                    "clamd did not answer PING within {START_DEADLINE:?}; its log:\n{}",
                    clamd.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        clamd.started_in = started.elapsed();
        eprintln!(
            "clamd on {} answered PING after {:?}",
            clamd.tcp, clamd.started_in
        );
    }

    /// clamd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("clamd.log")).unwrap_or_default()
    }

    /// Kills clamd at once (SIGKILL: no goodbye to open connections) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn socket_path(&self) -> &Path {
        Path::new(self.unix.trim_start_matches("unix:"))
    }
}

impl Drop for Clamd {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn ping(addr: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"zPING\0").is_err() {
        return false;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    buf.starts_with(b"PONG")
}

/// An antivirus check on `endpoints` with short test timeouts, adjusted by `tweak`.
pub fn antivirus(endpoints: &[&str], tweak: impl FnOnce(&mut AntivirusConfig)) -> Arc<dyn Check> {
    let mut cfg = AntivirusConfig {
        enabled: true,
        endpoints: endpoints.iter().map(|s| s.to_string()).collect(),
        connect_timeout: Span::secs(2),
        scan_timeout: Span::secs(20),
        health_interval: Span(Duration::from_millis(200)),
        stream_max: ByteSize(1 << 20),
        ..Default::default()
    };
    tweak(&mut cfg);
    build(&cfg).expect("valid antivirus config")
}

/// Runs the check's data stage on `msg`.
pub async fn scan(check: &Arc<dyn Check>, msg: &[u8]) -> Vec<Finding> {
    let spool = Spool::from_bytes(msg.to_vec());
    check.data(&conn(), &Envelope::default(), &spool).await
}

/// Runs the check on a message spooled to disk (threshold 4 KiB), as large mail is.
pub async fn scan_spilled(check: &Arc<dyn Check>, msg: &[u8]) -> Vec<Finding> {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::new(dir.path(), 4096);
    for chunk in msg.chunks(1000) {
        spool.write(chunk).unwrap();
    }
    assert!(spool.on_disk() || msg.len() <= 4096);
    check.data(&conn(), &Envelope::default(), &spool).await
}

pub fn conn() -> Connection {
    Connection {
        id: 1,
        listener: "test".into(),
        role: Role::Inbound,
        client: Client {
            addr: "192.0.2.1:40000".parse().unwrap(),
            name: None,
            helo: Some("client.example".into()),
            login: None,
            trusted: false,
            addr_unavailable: false,
        },
        tls: false,
    }
}

/// A plain text message.
pub fn text_mail(body: &str) -> Vec<u8> {
    format!(
        "From: a@example.com\r\nTo: b@ubnd.gov.vn\r\nSubject: test\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// A multipart message with a text part and `data` attached as `name` in base64.
pub fn mail_with_attachment(name: &str, data: &[u8]) -> Vec<u8> {
    let mut m = format!(
        "From: a@example.com\r\nTo: b@ubnd.gov.vn\r\nSubject: attached\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nXem tệp đính kèm.\r\n\
         --b1\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes();
    m.extend_from_slice(&base64_lines(data));
    m.extend_from_slice(b"--b1--\r\n");
    m
}

/// A zip archive holding `data` as `name`, stored uncompressed.
pub fn zip_of(name: &str, data: &[u8]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut out);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        z.start_file(name, opts).unwrap();
        z.write_all(data).unwrap();
        z.finish().unwrap();
    }
    out.into_inner()
}

/// Base64 in 76-character CRLF lines (RFC 2045 §6.8).
pub fn base64_lines(data: &[u8]) -> Vec<u8> {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut enc = Vec::with_capacity(data.len() * 4 / 3 + 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        enc.push(T[(n >> 18) as usize & 63]);
        enc.push(T[(n >> 12) as usize & 63]);
        enc.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63]
        } else {
            b'='
        });
        enc.push(if c.len() > 2 {
            T[n as usize & 63]
        } else {
            b'='
        });
    }
    let mut out = Vec::with_capacity(enc.len() + enc.len() / 76 * 2 + 2);
    for line in enc.chunks(76) {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Pseudo-random bytes (not compressible, not matching any signature).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
