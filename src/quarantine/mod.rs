//! The quarantine: messages kept on disk, not delivered, until an admin releases or deletes
//! them. A message is in quarantine only once its file and metadata are fsynced; only then may
//! the client hear 250 (the never-lose contract).

mod release;

pub use release::release;

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::engine::{Connection, Envelope, Verdict};
use crate::spool::Spool;

/// What is kept beside each quarantined message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    /// Seconds since the Unix epoch.
    pub time: u64,
    pub listener: String,
    pub client: String,
    pub helo: Option<String>,
    pub mail_from: String,
    pub rcpts: Vec<String>,
    pub size: u64,
    pub action: String,
    pub rules: Vec<String>,
    /// The findings as `scan` prints them.
    pub findings: serde_json::Value,
}

/// A directory of quarantined messages: `ID.eml` and `ID.json`.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Store { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Keeps a message; returns its id once the message and its metadata are on disk.
    ///
    /// Each file is written under a temporary name, fsynced, renamed, and the directory fsynced,
    /// so a crash leaves either the whole entry or none of it.
    pub fn put(
        &self,
        conn: &Connection,
        env: &Envelope,
        verdict: &Verdict,
        spool: &Spool,
    ) -> io::Result<String> {
        fs::create_dir_all(&self.dir)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let id = format!("{}-{:06x}-{}", now.as_secs(), now.subsec_micros(), conn.id);
        let entry = Entry {
            id: id.clone(),
            time: now.as_secs(),
            listener: conn.listener.to_string(),
            client: conn.client.addr.to_string(),
            helo: conn.client.helo.clone(),
            mail_from: env.mail_from.clone(),
            rcpts: env.rcpts.iter().map(|r| r.address.clone()).collect(),
            size: spool.len(),
            action: verdict.action().to_string(),
            rules: verdict.rules().iter().map(|r| r.to_string()).collect(),
            findings: serde_json::to_value(&verdict.findings).unwrap_or_default(),
        };
        let mut reader = spool.reader()?;
        self.write_atomically(&format!("{id}.eml"), |f| {
            io::copy(&mut reader, f).map(|_| ())
        })?;
        let json = serde_json::to_vec_pretty(&entry).map_err(io::Error::other)?;
        self.write_atomically(&format!("{id}.json"), |f| f.write_all(&json))?;
        File::open(&self.dir)?.sync_all()?;
        Ok(id)
    }

    fn write_atomically(
        &self,
        name: &str,
        fill: impl FnOnce(&mut File) -> io::Result<()>,
    ) -> io::Result<()> {
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let mut f = File::create(&tmp)?;
        fill(&mut f)?;
        f.sync_all()?;
        fs::rename(&tmp, self.dir.join(name))
    }

    /// Entries, oldest first.
    pub fn list(&self) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        let dir = match fs::read_dir(&self.dir) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for e in dir.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                if let Ok(entry) = fs::read(&p)
                    .and_then(|b| serde_json::from_slice::<Entry>(&b).map_err(io::Error::other))
                {
                    out.push(entry);
                }
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// One entry and its message.
    pub fn get(&self, id: &str) -> io::Result<(Entry, Vec<u8>)> {
        check_id(id)?;
        let json = fs::read(self.dir.join(format!("{id}.json")))?;
        let entry = serde_json::from_slice(&json).map_err(io::Error::other)?;
        let message = fs::read(self.dir.join(format!("{id}.eml")))?;
        Ok((entry, message))
    }

    pub fn delete(&self, id: &str) -> io::Result<()> {
        check_id(id)?;
        fs::remove_file(self.dir.join(format!("{id}.eml")))?;
        fs::remove_file(self.dir.join(format!("{id}.json")))
    }

    /// Deletes entries older than `age`; returns how many.
    pub fn purge(&self, age: Duration) -> io::Result<usize> {
        let cutoff = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_sub(age)
            .as_secs();
        let mut n = 0;
        for e in self.list()? {
            if e.time < cutoff && self.delete(&e.id).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }
}

/// Ids are ours (`digits-hex-digits`): refuse anything that could name another file.
fn check_id(id: &str) -> io::Result<()> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a quarantine id: {id:?}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Action, Bilingual, Client, Finding, Role};
    use std::sync::Arc;

    #[test]
    fn keeps_lists_shows_deletes_and_purges() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("q"));
        let conn = Connection {
            id: 7,
            listener: Arc::from("inbound"),
            role: Role::Inbound,
            client: Client {
                addr: "192.0.2.9:2525".parse().unwrap(),
                name: None,
                helo: Some("h".into()),
                login: None,
                trusted: false,
                addr_unavailable: false,
            },
            tls: false,
        };
        let env = Envelope {
            mail_from: "a@b.vn".into(),
            rcpts: vec!["c@d.vn".into()],
            ..Envelope::default()
        };
        let verdict = Verdict::new(vec![Finding::new(
            "unscannable",
            Action::Quarantine,
            Bilingual::new("x", "y"),
        )]);
        let id = store
            .put(
                &conn,
                &env,
                &verdict,
                &Spool::from_bytes(b"Subject: q\r\n\r\nx\r\n".to_vec()),
            )
            .unwrap();
        let list = store.list().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].rules, ["unscannable"]);
        let (entry, msg) = store.get(&id).unwrap();
        assert_eq!(
            (entry.mail_from.as_str(), msg.as_slice()),
            ("a@b.vn", &b"Subject: q\r\n\r\nx\r\n"[..])
        );
        assert!(store.get("../etc/passwd").is_err());
        assert_eq!(store.purge(Duration::from_secs(3600)).unwrap(), 0);
        store.delete(&id).unwrap();
        assert!(store.list().unwrap().is_empty());
    }
}
