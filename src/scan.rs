//! `locthu scan`: the whole pipeline on stored messages, as the gateway would judge them at
//! the end of DATA. One JSON object per line per file, so scripts can rely on the output.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::json;

use crate::engine::{Client, Connection, Envelope, Role};
use crate::runtime::Runtime;
use crate::spool::Spool;

/// The envelope and client every file is judged with.
pub struct Scan {
    pub mail_from: String,
    pub rcpts: Vec<String>,
    pub client_ip: IpAddr,
}

impl Scan {
    /// Scans every file, printing one line each; fails only if a file could not be read.
    pub async fn run(&self, rt: &Runtime, files: &[PathBuf]) -> ExitCode {
        let trusted = rt
            .config
            .server
            .trusted_networks
            .iter()
            .any(|n| n.contains(&self.client_ip));
        let conn = Connection {
            id: 0,
            listener: Arc::from("scan"),
            role: Role::Inbound,
            client: Client {
                addr: SocketAddr::new(self.client_ip, 0),
                name: None,
                helo: None,
                login: None,
                trusted,
                addr_unavailable: false,
            },
            tls: false,
        };
        let mut ok = true;
        for file in files {
            let line = match std::fs::read(file) {
                Ok(bytes) => {
                    let env = Envelope {
                        mail_from: self.mail_from.clone(),
                        rcpts: self.rcpts.clone(),
                        size: bytes.len() as u64,
                        ..Envelope::default()
                    };
                    let spool = Spool::from_bytes(bytes);
                    // Relay checks belong to RCPT time and do not decide a scan; the size
                    // check at MAIL is covered by the end-of-data check on the real size.
                    let verdict = rt.engine.data(&conn, &env, &spool).await;
                    json!({
                        "file": file.display().to_string(),
                        "action": verdict.action(),
                        "rules": verdict.rules(),
                        "reply": verdict.refusal().map(|r| r.one_line()),
                        "findings": verdict.findings,
                    })
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
}
