//! Virus scanning with clamd (Kiên Giang Đ11.2, Sóc Trăng Đ9.9, Lai Châu Đ12.2, An Giang
//! Đ10.1d, Đắk Nông Đ8.3): the whole message is streamed to clamd with INSTREAM, which decodes
//! MIME and archives itself.
//!
//! # Archives opened with the message's password
//!
//! clamd knows no password, so it cannot read an encrypted member (zip ZipCrypto or AES, 7z,
//! rar). When a password given in the message opens one, the inspection walk keeps the
//! decrypted member and the inspection check sends it to clamd here on its own stream
//! ([`Antivirus::scan_members`]): a hit is rule `virus` naming the member
//! (`bao-cao.zip/bao-cao.txt: Eicar-Signature`), a member over `stream_max` is `unscannable`,
//! and no clamd answering is `on_error`, as for the whole message.
//!
//! # Messages larger than clamd's `StreamMaxLength`
//!
//! clamd refuses a stream past its `StreamMaxLength` (25 MiB by default), less than a legal
//! Đắk Nông message (a 25 MB attachment is ~34 MB in base64). The design:
//!
//! * `stream_max` states the largest stream the admin's clamd takes. A message up to it goes
//!   to clamd whole. When an endpoint comes up, locthu sends it a probe stream of `stream_max`
//!   zero bytes and logs an error naming `StreamMaxLength` if clamd refuses it, so a mismatch
//!   shows at start, not at the first large message.
//! * A message over `stream_max` is never sent and never passed silently: it gets the rule
//!   `unscannable` with `unscannable_action` (default reject, `552 5.3.4`, permanent because
//!   a retry cannot make it smaller). The remedy is one line in clamd.conf, which the README
//!   and the province profiles set: `StreamMaxLength` (with `MaxScanSize` and `MaxFileSize`)
//!   at least the message size cap, and `stream_max` to match.
//! * clamd's `Heuristics.Limits.Exceeded.*` verdicts (with `AlertExceedsMax yes`: a member
//!   past `MaxFileSize` and so on) are the same case seen from inside and get the same rule.
//!
//! clamd.conf for a 40 MB message cap (clamd's `M` is MiB):
//!
//! ```text
//! StreamMaxLength 40M    # the whole message, as INSTREAM sends it
//! MaxFileSize 40M        # each file clamd extracts from it
//! MaxScanSize 200M       # everything scanned per message, archives expanded
//! AlertExceedsMax yes    # report what a limit stopped instead of answering OK
//! ```
//!
//! Why not scan decoded MIME parts separately: a decoded 25 MB part still meets clamd's
//! `MaxFileSize` (25 MB by default), so clamd.conf must be raised anyway; a second MIME parser
//! in the gateway that disagrees with the recipient's mail client is an evasion route; and the
//! MIME walk is the `inspect` module's job. Scanning parts separately would also lose clamd's
//! own whole-message view (body signatures across parts, its MIME heuristics). Opened members
//! are the one exception, because clamd cannot read them in the message at all.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::clamd::{Pool, ScanFailure, Verdict};
use crate::config::ByteSize;
use crate::engine::{rule, Action, Bilingual, Check, CheckFuture, Connection, Envelope, Finding};
use crate::inspect::Opened;
use crate::metrics::metrics;
use crate::spool::Spool;

/// Rule of a message passed or deferred because no clamd could scan it (a transient cause,
/// unlike `unscannable`, which the content itself causes).
pub const UNSCANNED: &str = rule::UNSCANNED;

/// The header the tag action should add when a message passes unscanned (`on_error = accept`).
pub const UNSCANNED_HEADER: (&str, &str) =
    ("X-Locthu-Virus-Scan", "not scanned (clamd unavailable)");

pub use crate::config::antivirus::{AntivirusConfig, OnError};

/// Builds the antivirus check; with `enabled = false` it finds nothing and talks to no clamd.
///
/// The health checks start with the first scan, or here when called inside a tokio runtime.
pub fn build(cfg: &AntivirusConfig) -> Result<Arc<dyn Check>, String> {
    Ok(scanner(cfg)? as Arc<dyn Check>)
}

/// The antivirus check as itself, to share its endpoints with the inspection check, which
/// sends it the members a password opened ([`Antivirus::scan_members`]).
pub fn scanner(cfg: &AntivirusConfig) -> Result<Arc<Antivirus>, String> {
    let errs = cfg.validate();
    if !errs.is_empty() {
        return Err(errs
            .iter()
            .map(|e| format!("[antivirus] {e}"))
            .collect::<Vec<_>>()
            .join("\n"));
    }
    let pool = if cfg.enabled {
        let probe = cfg.verify_stream_max.then_some(cfg.stream_max.bytes());
        Some(Arc::new(Pool::new(
            &cfg.endpoints,
            cfg.connect_timeout.get(),
            cfg.scan_timeout.get(),
            probe,
        )?))
    } else {
        None
    };
    let check = Antivirus {
        cfg: cfg.clone(),
        pool,
        health_started: AtomicBool::new(false),
    };
    if tokio::runtime::Handle::try_current().is_ok() {
        check.start_health();
    }
    Ok(Arc::new(check))
}

/// What a scan is of, for the findings' texts.
#[derive(Clone, Copy)]
enum Target<'a> {
    Message,
    /// An archive member opened with a password, by its path.
    Member(&'a str),
}

/// The check itself; see the module docs.
pub struct Antivirus {
    cfg: AntivirusConfig,
    pool: Option<Arc<Pool>>,
    health_started: AtomicBool,
}

impl Antivirus {
    fn start_health(&self) {
        if let Some(pool) = &self.pool {
            if !self.health_started.swap(true, Ordering::Relaxed) {
                pool.spawn_health(self.cfg.health_interval.get());
            }
        }
    }

    /// Whether clamd is configured (`enabled = true`).
    pub fn enabled(&self) -> bool {
        self.pool.is_some()
    }

    /// Scans the spooled message and returns at most one finding.
    pub async fn scan(&self, msg: &Spool) -> Option<Finding> {
        let pool = self.pool.as_ref()?;
        self.start_health();
        let max = self.cfg.stream_max;
        if msg.len() > max.bytes() {
            metrics()
                .clamd_scans
                .with_label_values(&["unscannable"])
                .inc();
            tracing::warn!(
                size = msg.len(),
                stream_max = max.bytes(),
                "message larger than [antivirus] stream_max, not sent to clamd"
            );
            let size = ByteSize(msg.len());
            return Some(self.unscannable(
                format!("Thư quá lớn để quét vi-rút ({size} > {max})"),
                format!("Message too large to scan for viruses ({size} > {max})"),
            ));
        }
        let started = Instant::now();
        let result = pool
            .scan(|| {
                msg.reader()
                    .map(|r| Box::new(r) as Box<dyn Read + Send + '_>)
            })
            .await;
        metrics()
            .clamd_scan_seconds
            .observe(started.elapsed().as_secs_f64());
        self.judge(result, Target::Message)
    }

    /// Scans each member a password from the message opened, one INSTREAM each: clamd cannot
    /// open them in the message. Stops at the first virus or at a failure of every endpoint
    /// (the message is then judged as `on_error` says, like an unscanned message); a member over
    /// `stream_max` is `unscannable` and the others are still scanned. Nothing without clamd.
    pub async fn scan_members(&self, members: &[Opened]) -> Vec<Finding> {
        let Some(pool) = self.pool.as_ref() else {
            return Vec::new();
        };
        self.start_health();
        let max = self.cfg.stream_max;
        let mut out = Vec::new();
        for m in members {
            let size = ByteSize(m.data.len() as u64);
            if size > max {
                metrics()
                    .clamd_scans
                    .with_label_values(&["unscannable"])
                    .inc();
                tracing::warn!(member = %m.path, size = size.bytes(), stream_max = max.bytes(),
                    "opened archive member larger than [antivirus] stream_max, not sent to clamd");
                out.push(
                    self.unscannable(
                        format!("Tệp trong tệp nén quá lớn để quét vi-rút ({size} > {max})"),
                        format!("Archive member too large to scan for viruses ({size} > {max})"),
                    )
                    .with_part(&m.path),
                );
                continue;
            }
            let started = Instant::now();
            let result = pool
                .scan(|| {
                    Ok(Box::new(std::io::Cursor::new(&m.data[..])) as Box<dyn Read + Send + '_>)
                })
                .await;
            metrics()
                .clamd_scan_seconds
                .observe(started.elapsed().as_secs_f64());
            if let Some(f) = self.judge(result, Target::Member(&m.path)) {
                let last = f.rule == rule::VIRUS || f.rule == UNSCANNED;
                out.push(f);
                if last {
                    break;
                }
            }
        }
        out
    }

    /// The finding for one scan's result, counted.
    fn judge(&self, result: Result<Verdict, ScanFailure>, target: Target<'_>) -> Option<Finding> {
        let m = metrics();
        let part = match target {
            Target::Message => None,
            Target::Member(p) => Some(p),
        };
        let with_part = |f: Finding| match part {
            Some(p) => f.with_part(p),
            None => f,
        };
        match result {
            Ok(Verdict::Clean) => {
                m.clamd_scans.with_label_values(&["clean"]).inc();
                None
            }
            Ok(Verdict::Found(name)) if name.starts_with("Heuristics.Limits.Exceeded") => {
                m.clamd_scans.with_label_values(&["unscannable"]).inc();
                tracing::warn!(signature = %name, member = part, "clamd could not scan the whole message");
                let (vi, en) = match part {
                    None => (
                        format!("Không quét hết được thư ({name})"),
                        format!("Message could not be fully scanned ({name})"),
                    ),
                    Some(p) => (
                        format!("Không quét hết được {p} ({name})"),
                        format!("{p} could not be fully scanned ({name})"),
                    ),
                };
                Some(with_part(self.unscannable(vi, en)))
            }
            Ok(Verdict::Found(name)) => {
                m.clamd_scans.with_label_values(&["virus"]).inc();
                m.viruses.inc();
                tracing::info!(virus = %name, member = part, "virus found");
                let (vi, en) = match part {
                    None => (
                        format!("Phát hiện vi-rút {name}"),
                        format!("Virus found: {name}"),
                    ),
                    Some(p) => (
                        format!("Phát hiện vi-rút trong {p}: {name}"),
                        format!("Virus found in {p}: {name}"),
                    ),
                };
                Some(with_part(Finding::new(
                    rule::VIRUS,
                    self.cfg.action,
                    Bilingual::new(vi, en),
                )))
            }
            Err(failure) => {
                tracing::warn!(error = %failure, on_error = ?self.cfg.on_error, member = part, "no clamd could scan the message");
                Some(match self.cfg.on_error {
                    OnError::Tempfail => {
                        m.clamd_scans.with_label_values(&["tempfail"]).inc();
                        Finding::new(
                            UNSCANNED,
                            Action::Tempfail,
                            Bilingual::new(
                                "Chưa quét được vi-rút, xin gửi lại sau",
                                "Virus scanner unavailable, try again later",
                            ),
                        )
                    }
                    OnError::Accept => {
                        m.clamd_scans.with_label_values(&["unscanned"]).inc();
                        let (h, v) = UNSCANNED_HEADER;
                        Finding::new(
                            UNSCANNED,
                            Action::Tag,
                            Bilingual::new(
                                format!("Thư chưa được quét vi-rút ({h}: {v})"),
                                format!("Message not scanned for viruses ({h}: {v})"),
                            ),
                        )
                    }
                })
            }
        }
    }

    fn unscannable(&self, vi: String, en: String) -> Finding {
        // RFC 3463 5.3.4: message too big for system.
        Finding::new(
            rule::UNSCANNABLE,
            self.cfg.unscannable_action,
            Bilingual::new(vi, en),
        )
        .with_code(552, "5.3.4")
    }
}

impl Check for Antivirus {
    fn name(&self) -> &'static str {
        "antivirus"
    }

    fn data<'a>(
        &'a self,
        _conn: &'a Connection,
        _env: &'a Envelope,
        msg: &'a Spool,
    ) -> CheckFuture<'a> {
        Box::pin(async move { self.scan(msg).await.into_iter().collect() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Span;

    #[test]
    fn defaults_follow_clamd_and_fail_closed() {
        let cfg: AntivirusConfig = toml::from_str("").unwrap();
        assert_eq!(cfg.endpoints, vec!["127.0.0.1:3310".to_string()]);
        assert_eq!(cfg.on_error, OnError::Tempfail);
        assert_eq!(cfg.action, Action::Reject);
        assert_eq!(cfg.stream_max.bytes(), 25 << 20);
        assert!(cfg.validate().is_empty());
    }

    #[test]
    fn config_parses_and_rejects_unknown_keys() {
        let cfg: AntivirusConfig = toml::from_str(
            r#"
            enabled = true
            endpoints = ["127.0.0.1:3310", "unix:/run/clamav/clamd.ctl"]
            connect_timeout = "1s"
            scan_timeout = "30s"
            on_error = "accept"
            stream_max = "50MiB"
            "#,
        )
        .unwrap();
        assert_eq!(cfg.on_error, OnError::Accept);
        assert_eq!(cfg.stream_max.bytes(), 50 << 20);
        assert!(toml::from_str::<AntivirusConfig>("endpoint = \"x:1\"").is_err());
        assert!(toml::from_str::<AntivirusConfig>("on_error = \"ignore\"").is_err());
    }

    #[test]
    fn a_stream_limit_below_the_message_size_is_reported() {
        let mut cfg = AntivirusConfig {
            enabled: true,
            ..Default::default()
        };
        let warning = cfg.size_gap(ByteSize(40_000_000)).unwrap();
        assert!(warning.contains("StreamMaxLength"), "{warning}");
        cfg.stream_max = ByteSize(40_000_000);
        assert!(cfg.size_gap(ByteSize(40_000_000)).is_none());
    }

    #[test]
    fn every_config_error_is_reported_at_once() {
        let cfg = AntivirusConfig {
            endpoints: vec!["nowhere".into()],
            scan_timeout: Span::secs(0),
            action: Action::Accept,
            ..Default::default()
        };
        let err = build(&cfg).err().unwrap();
        assert_eq!(err.lines().count(), 3, "{err}");
        assert!(
            err.contains("endpoints") && err.contains("scan_timeout") && err.contains("action")
        );
    }

    #[tokio::test]
    async fn disabled_check_finds_nothing() {
        let check = build(&AntivirusConfig::default()).unwrap();
        let spool = Spool::from_bytes(b"Subject: x\r\n\r\nhi\r\n".to_vec());
        let conn = Connection {
            id: 1,
            listener: "test".into(),
            role: crate::engine::Role::Inbound,
            client: crate::engine::Client {
                addr: "192.0.2.1:25".parse().unwrap(),
                name: None,
                helo: None,
                login: None,
                trusted: false,
                addr_unavailable: false,
            },
            tls: false,
        };
        assert!(check
            .data(&conn, &Envelope::default(), &spool)
            .await
            .is_empty());
    }

    #[test]
    fn virus_reply_is_550_and_bilingual() {
        let f = Finding::new(
            rule::VIRUS,
            Action::Reject,
            Bilingual::new(
                "Phát hiện vi-rút Eicar-Signature",
                "Virus found: Eicar-Signature",
            ),
        );
        assert_eq!(
            f.reply().one_line(),
            "550 5.7.1 Phát hiện vi-rút Eicar-Signature / Virus found: Eicar-Signature (rule virus)"
        );
    }
}
