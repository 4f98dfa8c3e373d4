//! rspamd's normal worker: `POST /checkv2` with the message as the body and the envelope in
//! request headers (rspamd's "protocol" documentation), answered with JSON.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;

use super::Opinion;
use crate::engine::{Connection, Envelope};

/// rspamd's JSON for one message: its symbols and their descriptions stay well below this.
const MAX_REPLY: usize = 1024 * 1024;

#[derive(Deserialize)]
struct Reply {
    score: f64,
    #[serde(default)]
    required_score: f64,
    #[serde(default)]
    symbols: std::collections::HashMap<String, Symbol>,
}

#[derive(Deserialize)]
struct Symbol {
    #[serde(default)]
    score: f64,
}

pub async fn check(
    address: &str,
    conn: &Connection,
    env: &Envelope,
    msg: &[u8],
) -> Result<Opinion, String> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("http: {e}"))?;
    // Drives the connection; it ends when `sender` is dropped or the peer closes.
    tokio::spawn(connection);
    let mut req = hyper::Request::post("/checkv2")
        .header("Host", address)
        .header("IP", conn.client.addr.ip().to_string())
        .header("From", &env.mail_from)
        .header("Pass", "all");
    if let Some(helo) = &conn.client.helo {
        req = req.header("Helo", helo);
    }
    if let Some(name) = &conn.client.name {
        req = req.header("Hostname", name);
    }
    if let Some(login) = &conn.client.login {
        req = req.header("User", login);
    }
    for r in &env.rcpts {
        req = req.header("Rcpt", &r.address);
    }
    let req = req
        .body(Full::new(Bytes::copy_from_slice(msg)))
        .map_err(|e| format!("request: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("http: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("rspamd answered HTTP {}", resp.status()));
    }
    let body = Limited::new(resp.into_body(), MAX_REPLY)
        .collect()
        .await
        .map_err(|e| format!("reading the reply: {e}"))?
        .to_bytes();
    parse(&body)
}

fn parse(body: &[u8]) -> Result<Opinion, String> {
    let reply: Reply =
        serde_json::from_slice(body).map_err(|e| format!("rspamd's reply is not its JSON: {e}"))?;
    if !reply.score.is_finite() {
        return Err("rspamd's score is not a number".into());
    }
    let mut symbols: Vec<(String, f64)> = reply
        .symbols
        .into_iter()
        .map(|(k, v)| (k, v.score))
        .filter(|(_, s)| *s > 0.0)
        .collect();
    symbols.sort_by(|a, b| {
        b.1.partial_cmp(&a.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.0.cmp(&b.0))
    });
    Ok(Opinion {
        score: reply.score,
        required: reply.required_score,
        symbols: symbols.into_iter().take(5).map(|(k, _)| k).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rspamd_json_is_read() {
        let o = parse(br#"{"is_skipped":false,"score":16.5,"required_score":15,"action":"reject","symbols":{"GTUBE":{"name":"GTUBE","score":0},"MISSING_DATE":{"score":1.0},"R_X":{"score":9.5}}}"#).unwrap();
        assert_eq!((o.score, o.required), (16.5, 15.0));
        assert_eq!(o.symbols, vec!["R_X", "MISSING_DATE"]);
        assert!(parse(b"<html>").is_err());
    }
}
