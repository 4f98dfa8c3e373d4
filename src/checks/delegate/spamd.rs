//! SpamAssassin's spamd, over the SPAMC/1.5 protocol (spamd(1p), "PROTOCOL"): one request per
//! connection, `SYMBOLS` to get the score and the names of the rules that hit.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Opinion;

/// The reply is a status line, a few headers and the symbol list: far below this.
const MAX_REPLY: u64 = 64 * 1024;

pub async fn check(address: &str, msg: &[u8]) -> Result<Opinion, String> {
    let mut stream = TcpStream::connect(address)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let head = format!(
        "SYMBOLS SPAMC/1.5\r\nContent-length: {}\r\nUser: locthu\r\n\r\n",
        msg.len()
    );
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    stream
        .write_all(msg)
        .await
        .map_err(|e| format!("write: {e}"))?;
    stream.shutdown().await.map_err(|e| format!("write: {e}"))?;
    let mut reply = Vec::new();
    stream
        .take(MAX_REPLY)
        .read_to_end(&mut reply)
        .await
        .map_err(|e| format!("read: {e}"))?;
    parse(&String::from_utf8_lossy(&reply))
}

/// `SPAMD/1.1 0 EX_OK`, then `Spam: True ; 15.2 / 5.0`, a blank line, `RULE_A,RULE_B`.
fn parse(reply: &str) -> Result<Opinion, String> {
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((reply, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap_or("");
    let mut words = status.split_whitespace();
    let (proto, code) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    if !proto.starts_with("SPAMD/") || code != "0" {
        return Err(format!("spamd answered `{}`", status.trim()));
    }
    let spam = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("spam"))
        .map(|(_, v)| v.to_string())
        .ok_or("spamd's reply has no Spam header")?;
    let (_, scores) = spam
        .split_once(';')
        .ok_or("spamd's Spam header has no score")?;
    let (score, required) = scores
        .split_once('/')
        .ok_or("spamd's Spam header has no threshold")?;
    let num = |s: &str| {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("spamd's score `{}` is not a number", s.trim()))
    };
    Ok(Opinion {
        score: num(score)?,
        required: num(required)?,
        symbols: body
            .trim()
            .split(',')
            .filter(|s| !s.is_empty())
            .take(5)
            .map(|s| s.trim().to_string())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spamd_replies_are_read_and_errors_are_named() {
        let o = parse("SPAMD/1.1 0 EX_OK\r\nContent-length: 12\r\nSpam: True ; 1004.5 / 5.0\r\n\r\nGTUBE,MISSING_DATE").unwrap();
        assert_eq!((o.score, o.required), (1004.5, 5.0));
        assert_eq!(o.symbols, vec!["GTUBE", "MISSING_DATE"]);
        let e = parse("SPAMD/1.0 76 Bad header line: (EOF)\r\n").unwrap_err();
        assert!(e.contains("76 Bad header"), "{e}");
        assert!(parse("SPAMD/1.1 0 EX_OK\r\nSpam: False ; nan / 5.0\r\n\r\n").is_err());
    }
}
