//! `locthu scan`: stored messages judged as `serve` would judge them, stage by stage: connect,
//! HELO, MAIL, each RCPT, then the content. One JSON object per line per file, so scripts can
//! rely on the output.
//!
//! What the sender would see decides the message-level fields: the first stage that refuses
//! (connect, HELO or MAIL: `"stage"` names it); when every recipient is refused, the decisive
//! refusal among them (stage `rcpt`), as `serve` then answers DATA with 554; otherwise the
//! content verdict over the accepted recipients (stage `data`). Each recipient's own answer
//! is in `"recipients"`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::engine::{Client, Connection, Envelope, Role, Verdict};
use crate::runtime::Runtime;
use crate::spool::Spool;

/// The client, listener and envelope every file is judged with.
pub struct Scan {
    pub mail_from: String,
    pub rcpts: Vec<String>,
    pub client_ip: IpAddr,
    pub helo: String,
    /// A configured listener's name: its role applies. `None`: the first listener.
    pub listener: Option<String>,
    /// Overrides the listener's role.
    pub role: Option<Role>,
}

impl Scan {
    /// The connection `serve` would see for this client on the chosen listener.
    fn connection(&self, rt: &Runtime) -> Result<Connection, String> {
        let listener = match &self.listener {
            Some(name) => rt
                .config
                .listeners
                .iter()
                .find(|l| &l.name == name)
                .ok_or_else(|| format!("no listener named `{name}` in the config"))?,
            None => rt
                .config
                .listeners
                .first()
                .ok_or("the config has no listener")?,
        };
        let trusted = rt
            .config
            .server
            .trusted_networks
            .iter()
            .any(|n| n.contains(&self.client_ip));
        Ok(Connection {
            id: 0,
            listener: Arc::from(listener.name.as_str()),
            role: self.role.unwrap_or(listener.role),
            client: Client {
                addr: SocketAddr::new(self.client_ip, 0),
                name: None,
                helo: Some(self.helo.clone()),
                login: None,
                trusted,
                addr_unavailable: false,
            },
            tls: false,
        })
    }

    /// Scans every file, printing one line each; fails only if a file could not be read.
    pub async fn run(&self, rt: &Runtime, files: &[PathBuf]) -> ExitCode {
        let conn = match self.connection(rt) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
        let mut ok = true;
        for file in files {
            let line = match std::fs::read(file) {
                Ok(bytes) => {
                    let mut line = self.judge(rt, &conn, bytes).await;
                    line["file"] = json!(file.display().to_string());
                    line
                }
                Err(e) => {
                    ok = false;
                    json!({ "file": file.display().to_string(), "error": e.to_string() })
                }
            };
            println!("{line}");
        }
        if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }

    async fn judge(&self, rt: &Runtime, conn: &Connection, bytes: Vec<u8>) -> Value {
        let engine = &rt.engine;
        let size = bytes.len() as u64;
        let env = Envelope {
            mail_from: self.mail_from.clone(),
            size_hint: Some(size),
            smtputf8: !self.mail_from.is_ascii() || self.rcpts.iter().any(|r| !r.is_ascii()),
            ..Envelope::default()
        };
        for (stage, verdict) in [
            ("connect", engine.connect(conn).await),
            ("helo", engine.helo(conn).await),
            ("mail", engine.mail(conn, &env).await),
        ] {
            if verdict.refusal().is_some() {
                return message_line(stage, &verdict, Vec::new());
            }
        }
        let mut env = env;
        let mut recipients = Vec::new();
        let mut refused = Verdict::default();
        for rcpt in &self.rcpts {
            let verdict = engine.rcpt(conn, &env, rcpt).await;
            recipients.push(json!({
                "address": rcpt,
                "action": verdict.action(),
                "rules": verdict.rules(),
                "reply": verdict.refusal().map(|r| r.one_line()),
            }));
            if verdict.refusal().is_some() {
                refused.extend(verdict);
            } else {
                env.rcpts.push(crate::engine::Recipient::new(rcpt.as_str()));
            }
        }
        if env.rcpts.is_empty() && !self.rcpts.is_empty() {
            return message_line("rcpt", &refused, recipients);
        }
        env.size = size;
        let spool = Spool::from_bytes(bytes);
        let verdict = engine.data(conn, &env, &spool).await;
        message_line("data", &verdict, recipients)
    }
}

fn message_line(stage: &str, verdict: &Verdict, recipients: Vec<Value>) -> Value {
    let symbols: serde_json::Map<String, Value> = verdict
        .symbols()
        .map(|f| (f.rule.to_string(), json!(f.score)))
        .collect();
    json!({
        "stage": stage,
        "action": verdict.action(),
        "rules": verdict.rules(),
        "reply": verdict.refusal().map(|r| r.one_line()),
        "score": verdict.scored.as_ref().map(|s| s.score),
        "symbols": symbols,
        "findings": verdict.findings.iter().filter(|f| !f.is_symbol()).collect::<Vec<_>>(),
        "recipients": recipients,
    })
}
