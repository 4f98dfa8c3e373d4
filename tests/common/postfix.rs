//! A private Postfix instance for tests: its own config, queue and data directories and log
//! file under a temp dir, smtpd on loopback ports the test chooses, and every message delivered
//! by a `pipe` transport into a dump directory, one file per recipient, as Postfix wrote it
//! (its Received: header included).
//!
//! Runs as root, like Postfix itself: `postfix -c DIR start` (its checks create the queue
//! layout and the data directory); Drop runs `postfix -c DIR stop` and waits for the master to
//! go.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{free_port, is_root, require, wait_listening};

/// A free loopback address for an smtpd (or locthu) listener.
pub fn free_addr() -> SocketAddr {
    format!("127.0.0.1:{}", free_port()).parse().unwrap()
}

/// One of the snippets in `config/postfix/`, with the addresses it names replaced by the
/// test's. Every `from` must occur in the file, so the docs and the tests cannot drift apart.
pub fn snippet(name: &str, replace: &[(&str, String)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config/postfix")
        .join(name);
    let mut text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    for (from, to) in replace {
        assert!(
            text.contains(from),
            "{} no longer contains {from:?}: update the test with the docs",
            path.display()
        );
        text = text.replace(from, to);
    }
    text
}

/// Services every instance needs, all outside a chroot. The test adds its smtpd lines.
const BASE_MASTER: &str = "\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
";

/// The delivery transport: pipe(8) runs the command without a shell, so the script is one
/// argument in `{ }` (master.cf, Postfix 3.0+) and `$$` is a literal `$` for pipe. The
/// message goes to a temp name first and is renamed, so a reader never sees half a file.
/// flags=DR: Delivered-To: and Return-Path: headers, so the envelope is in the file too.
const DUMP_SERVICE: &str = "\
dump      unix  -       n       n       -       -       pipe
    flags=DR user=nobody argv=/bin/sh -c { f=$$(mktemp \"$$0/.new.XXXXXX\") && cat > \"$$f\" && mv \"$$f\" \"$$0/$$1.$${f##*.}\" } DUMPDIR ${queue_id}
";

pub struct Postfix {
    /// The instance's root: etc/, queue/, data/, dump/, maillog.
    pub root: tempfile::TempDir,
    pub config_dir: PathBuf,
    pub dump: PathBuf,
    pub maillog: PathBuf,
    /// The smtpd addresses the test asked for, in order.
    pub addrs: Vec<SocketAddr>,
    stopped: bool,
}

impl Postfix {
    /// Starts an instance with `main` appended to the instance's own main.cf (later settings
    /// win) and `master` appended to the basic services. `smtpd` are the inet addresses
    /// `master` defines; start returns once each accepts connections.
    pub fn start(main: &str, master: &str, smtpd: &[SocketAddr]) -> Postfix {
        let postfix = require("postfix");
        assert!(
            is_root(),
            "the Postfix tests run a private Postfix instance and need root"
        );
        let root = tempfile::Builder::new()
            .prefix("postfix-")
            .tempdir()
            .unwrap();
        let r = root.path().to_path_buf();
        // pipe runs as nobody: it must reach dump/ through the root dir.
        set_mode(&r, 0o755);
        let config_dir = r.join("etc");
        let dump = r.join("dump");
        let maillog = r.join("maillog");
        std::fs::create_dir(&config_dir).unwrap();
        std::fs::create_dir(&dump).unwrap();
        set_mode(&dump, 0o1777);
        // The queue directory must exist and belong to root; `postfix start` fills it in and
        // creates data_directory owned by postfix.
        std::fs::create_dir(r.join("queue")).unwrap();
        let meta = postconf_default("meta_directory");
        let base_main = format!(
            "# A private test instance (tests/common/postfix.rs).
compatibility_level = 3.6
queue_directory = {r}/queue
data_directory = {r}/data
meta_directory = {meta}
maillog_file = {r}/maillog
maillog_file_prefixes = {r}
myhostname = postfix.test
mydomain = test
myorigin = $myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = loopback-only
inet_protocols = ipv4
smtputf8_enable = yes
biff = no
# Delivered to files in dump/, one file per recipient (unless the test routes elsewhere).
default_transport = dump
relay_transport = dump
dump_destination_recipient_limit = 1
",
            r = r.display(),
        );
        std::fs::write(
            config_dir.join("main.cf"),
            last_wins(&format!("{base_main}\n# The test's settings.\n{main}\n")),
        )
        .unwrap();
        let dump_service = DUMP_SERVICE.replace("DUMPDIR", &dump.display().to_string());
        std::fs::write(
            config_dir.join("master.cf"),
            format!("{BASE_MASTER}{dump_service}\n# The test's services.\n{master}\n"),
        )
        .unwrap();
        let mut pf = Postfix {
            root,
            config_dir,
            dump,
            maillog,
            addrs: smtpd.to_vec(),
            stopped: true,
        };
        // `start` runs postfix-script's checks first, which create what the queue lacks.
        pf.run(&postfix, "start");
        pf.stopped = false;
        for addr in smtpd {
            wait_listening(*addr);
        }
        pf
    }

    fn run(&self, postfix: &Path, what: &str) {
        let out = Command::new(postfix)
            .arg("-c")
            .arg(&self.config_dir)
            .arg(what)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "postfix {what} failed: {}{}\nmaillog:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    /// The first smtpd address.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Postfix's log so far (maillog_file, written by postlogd).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.maillog).unwrap_or_default()
    }

    /// Waits up to 10 s for a log line containing every one of `parts`; returns that line.
    pub fn wait_log(&self, parts: &[&str]) -> String {
        let start = Instant::now();
        loop {
            let log = self.log();
            if let Some(line) = log.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
                return line.to_string();
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no Postfix log line with {parts:?} after 10 s:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Messages delivered so far, one per recipient, sorted by file name (queue id first).
    pub fn delivered(&self) -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(&self.dump)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path())
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| String::from_utf8(std::fs::read(p).unwrap()).expect("delivered as UTF-8"))
            .collect()
    }

    /// Waits until queue id `id` has left the queue (Postfix logs `ID: removed` after the last
    /// delivery attempt), then returns every message delivered so far.
    pub fn wait_delivered(&self, queue_id: &str) -> Vec<String> {
        self.wait_log(&[&format!("{queue_id}: removed")]);
        self.delivered()
    }

    /// `postfix stop`, then waits (at most 10 s) for the master to exit; kills it after that.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let pid = std::fs::read_to_string(self.root.path().join("queue/pid/master.pid"))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        let _ = Command::new(require("postfix"))
            .arg("-c")
            .arg(&self.config_dir)
            .arg("stop")
            .output();
        let Some(pid) = pid else { return };
        // The master, not whatever process got its pid after it was reaped.
        let alive = || is_master(pid) && !is_zombie(pid);
        let start = Instant::now();
        while alive() && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if alive() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- Postfix's log ---\n{}", self.log());
        }
        self.stop();
    }
}

/// The queue id in Postfix's `250 2.0.0 Ok: queued as ID`.
pub fn queue_id(reply: &str) -> String {
    reply
        .trim_end()
        .rsplit(' ')
        .next()
        .filter(|_| reply.contains("queued as"))
        .unwrap_or_else(|| panic!("not a Postfix queued reply: {reply:?}"))
        .to_string()
}

/// The Received: header Postfix put on top of a delivered message (continuation lines
/// unfolded with single spaces).
pub fn received(message: &str) -> String {
    let mut out = String::new();
    let mut lines = message.lines().skip_while(|l| !l.starts_with("Received:"));
    if let Some(first) = lines.next() {
        out.push_str(first);
        for l in lines.take_while(|l| l.starts_with([' ', '\t'])) {
            out.push(' ');
            out.push_str(l.trim_start());
        }
    }
    out
}

/// Every Received: header of a delivered message, top first, unfolded like [`received`].
pub fn received_all(message: &str) -> Vec<String> {
    let head = message.split("\n\n").next().unwrap_or("");
    let lines: Vec<&str> = head.lines().collect();
    (0..lines.len())
        .filter(|&i| lines[i].starts_with("Received:"))
        .map(|i| received(&lines[i..].join("\n")))
        .collect()
}

/// A header's value in a delivered message (first occurrence, unfolded).
pub fn header(message: &str, name: &str) -> Option<String> {
    let prefix = format!("{name}:");
    let mut lines = message.lines();
    let first = lines.find(|l| l.starts_with(&prefix))?;
    let mut v = first[prefix.len()..].trim().to_string();
    for l in lines.take_while(|l| l.starts_with([' ', '\t'])) {
        v.push(' ');
        v.push_str(l.trim_start());
    }
    Some(v)
}

/// main.cf text where a parameter set twice keeps only its last setting, in that place:
/// Postfix would take the last one too, but warns about each override in every log line's
/// process.
fn last_wins(main: &str) -> String {
    // Each parameter with its continuation lines, as one block.
    let mut blocks: Vec<(Option<String>, String)> = Vec::new();
    for line in main.lines() {
        let continues = line.starts_with([' ', '\t']) && !line.trim().is_empty();
        match blocks.last_mut() {
            Some((Some(_), text)) if continues => {
                text.push('\n');
                text.push_str(line);
                continue;
            }
            _ => {}
        }
        let name = line
            .split_once('=')
            .map(|(n, _)| n.trim())
            .filter(|n| {
                !line.starts_with(['#', ' ', '\t'])
                    && !n.is_empty()
                    && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            })
            .map(str::to_string);
        blocks.push((name, line.to_string()));
    }
    let mut out = String::new();
    for (i, (name, text)) in blocks.iter().enumerate() {
        let overridden = name
            .as_ref()
            .is_some_and(|n| blocks[i + 1..].iter().any(|(m, _)| m.as_ref() == Some(n)));
        if !overridden {
            out.push_str(text);
            out.push('\n');
        }
    }
    out
}

fn postconf_default(name: &str) -> String {
    let out = Command::new(require("postconf"))
        .args(["-d", "-h", name])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
}

fn is_master(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            c.split(|&b| b == 0)
                .next()
                .is_some_and(|a| a.ends_with(b"/master"))
        })
        .unwrap_or(false)
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}
