//! Test harness: real processes (the locthu binary, Postfix's smtp-sink, a private Postfix
//! instance) on loopback ports, and a small SMTP dialogue language for asserting replies.
#![allow(dead_code)]

pub mod postfix;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port (bound then released; the tiny race is acceptable in tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Fails the test with a clear message when a tool CI should have installed is missing.
pub fn require(tool: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"] {
        let p = Path::new(dir).join(tool);
        if p.exists() {
            return p;
        }
    }
    panic!("`{tool}` is not installed: run .ci/run (it installs postfix, swaks, …) or apt-get install it");
}

/// Waits until something accepts on `addr`, at most 10 s.
pub fn wait_listening(addr: SocketAddr) {
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "nothing listening on {addr} after 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

/// Postfix's smtp-sink: a real SMTP server that accepts (or refuses, as told) and dumps every
/// message it accepts into a directory.
pub struct Sink {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Sink {
    /// `extra` are smtp-sink flags, e.g. `["-q", "."]` to hang up at the end of DATA.
    pub fn start(extra: &[&str]) -> Sink {
        let bin = require("smtp-sink");
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .unwrap();
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut cmd = Command::new(bin);
        if is_root() {
            cmd.args(["-u", "postfix"]);
        }
        cmd.arg("-d")
            .arg(format!("{}/%Y%m%d%H%M%S.", dir.path().display()));
        cmd.args(extra);
        cmd.arg(addr.to_string()).arg("100");
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_listening(addr);
        Sink { addr, dir, child }
    }

    /// The messages received, each as smtp-sink dumped it (envelope lines, then content with
    /// LF line ends).
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            // smtp-sink opens a dump at MAIL FROM; a transaction that never got to DATA leaves
            // an empty file, which is no message.
            .filter(|p| std::fs::metadata(p).map(|m| m.len() > 0).unwrap_or(false))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())
            .collect()
    }

    /// Waits up to 5 s for `n` messages (smtp-sink writes after replying).
    pub fn wait_messages(&self, n: usize) -> Vec<String> {
        let start = Instant::now();
        loop {
            let m = self.messages();
            if m.len() >= n || start.elapsed() > Duration::from_secs(5) {
                return m;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The content part of an smtp-sink dump: after its own envelope lines and Received header.
pub fn dumped_content(dump: &str) -> String {
    let mut lines = dump.lines().peekable();
    while let Some(l) = lines.peek() {
        if l.starts_with("X-") {
            lines.next();
        } else {
            break;
        }
    }
    // smtp-sink's own Received: header and its continuation lines.
    if lines.peek().is_some_and(|l| {
        l.starts_with("Received: ") && l.contains("smtp-sink") || l.starts_with("Received: from")
    }) {
        lines.next();
        while lines.peek().is_some_and(|l| l.starts_with('\t')) {
            lines.next();
        }
    }
    let content: String = lines.map(|l| format!("{l}\n")).collect();
    // smtp-sink ends each dump with one empty line of its own.
    content
        .strip_suffix('\n')
        .map(str::to_string)
        .unwrap_or(content)
}

/// A running `locthu serve` with a config written by the test.
pub struct Gateway {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    child: Option<Child>,
}

impl Gateway {
    /// Starts locthu with `config` (TOML). `{listen}`, `{admin}`, `{upstream}` and `{dir}` are
    /// replaced by a free port, a free admin port, `upstream` and the test's temp dir.
    pub fn start(config: &str, upstream: SocketAddr) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let text = config
            .replace("{listen}", &addr.to_string())
            .replace("{admin}", &admin.to_string())
            .replace("{upstream}", &upstream.to_string())
            .replace("{dir}", &dir.path().display().to_string());
        let path = dir.path().join("locthu.toml");
        std::fs::write(&path, text).unwrap();
        let log = std::fs::File::create(dir.path().join("locthu.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_locthu"))
            .args(["serve", "--config"])
            .arg(&path)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut g = Gateway {
            addr,
            admin,
            dir,
            config: path,
            child: Some(child),
        };
        let start = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = g.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("locthu exited with {status}:\n{}", g.log());
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "locthu not listening:\n{}",
                g.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        g
    }

    /// What locthu logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("locthu.log")).unwrap_or_default()
    }

    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        assert!(Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success());
    }

    /// Waits for the process to exit (at most `limit`), returning whether it did.
    pub fn wait_exit(&mut self, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.child.as_mut().unwrap().try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// GET a path on the admin listener; returns (status, body).
    pub fn admin_get(&self, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(self.admin).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = out
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    /// The value of a metric line starting with `prefix` (name and labels), or 0.
    pub fn metric(&self, prefix: &str) -> f64 {
        let (_, body) = self.admin_get("/metrics");
        body.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A line-level SMTP client for dialogue tests: `d.cmd("RCPT TO:<x@y>", "250")`.
pub struct Dialog {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Dialog {
    /// Connects and checks the greeting.
    pub fn open(addr: SocketAddr) -> Dialog {
        Self::open_from(addr, None)
    }

    /// Connects from a chosen loopback source address (e.g. 127.0.0.2, an "untrusted" client).
    pub fn open_from(addr: SocketAddr, source: Option<&str>) -> Dialog {
        let stream = match source {
            None => TcpStream::connect(addr).unwrap(),
            Some(src) => socket2_connect(src, addr),
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        let mut d = Dialog { stream, reader };
        d.expect("220");
        d
    }

    /// Reads one whole (possibly multi-line) reply.
    pub fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).unwrap_or(0);
            if n == 0 {
                return if all.is_empty() {
                    "<closed>".into()
                } else {
                    all
                };
            }
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    /// Reads a reply and asserts it starts with `code` (e.g. "250" or "550 5.7.1").
    pub fn expect(&mut self, code: &str) -> String {
        let r = self.reply();
        assert!(r.starts_with(code), "expected {code}, got {r:?}");
        r
    }

    pub fn send(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).unwrap();
    }

    /// Sends a command line and asserts the reply code.
    pub fn cmd(&mut self, line: &str, code: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.expect(code)
    }

    /// EHLO, MAIL, RCPTs, DATA, the message (dot-stuffed here), and the final reply.
    pub fn send_mail(&mut self, from: &str, rcpts: &[&str], message: &str) -> String {
        self.cmd("EHLO client.example", "250");
        self.cmd(&format!("MAIL FROM:<{from}>"), "250");
        for r in rcpts {
            self.cmd(&format!("RCPT TO:<{r}>"), "250");
        }
        self.cmd("DATA", "354");
        self.send(&stuff(message));
        self.reply()
    }
}

/// Dot-stuffs a message with CRLF line ends and appends the terminator.
pub fn stuff(message: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in message.split_inclusive('\n') {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with('.') {
            out.push(b'.');
        }
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Connects from a chosen source address: std cannot bind before connecting, socket2 can.
fn socket2_connect(src: &str, addr: SocketAddr) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let src: SocketAddr = format!("{src}:0").parse().unwrap();
    sock.bind(&src.into()).unwrap();
    sock.connect(&addr.into()).unwrap();
    sock.into()
}
