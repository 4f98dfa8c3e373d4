//! The SMTP client towards the upstream MTA: one session per client session.

use std::io::Read;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Sleep};

use super::command::xtext_encode;
use super::data::DotStuffer;
use super::stream::Stream;
use crate::config::UpstreamTls;
use crate::reply::Reply;
use crate::spool::Spool;

/// Who failed, and how, when talking to the upstream (STYLE.md habit 6).
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("upstream timed out waiting for {0}")]
    Timeout(&'static str),
    #[error("upstream connection lost: {0}")]
    Io(#[from] std::io::Error),
    #[error("upstream protocol error: {0}")]
    Protocol(String),
    #[error("upstream refused {what}: {reply}")]
    Refused { what: &'static str, reply: Reply },
    #[error("TLS with upstream failed: {0}")]
    Tls(String),
}

impl UpstreamError {
    /// A bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Connect { .. } => "connect",
            UpstreamError::Timeout(_) => "timeout",
            UpstreamError::Io(_) => "io",
            UpstreamError::Protocol(_) => "protocol",
            UpstreamError::Refused { .. } => "refused",
            UpstreamError::Tls(_) => "tls",
        }
    }

    /// What the client hears: always a 4xx, so the client keeps the message and retries.
    pub fn client_reply(&self) -> Reply {
        let (enhanced, vi, en) = match self {
            UpstreamError::Connect { .. }
            | UpstreamError::Refused { .. }
            | UpstreamError::Tls(_) => (
                "4.4.1",
                "Máy chủ thư phía sau tạm thời không nhận thư",
                "Upstream mail server unavailable, try again later",
            ),
            UpstreamError::Timeout(_) => (
                "4.4.2",
                "Máy chủ thư phía sau không trả lời kịp",
                "Upstream mail server timed out, try again later",
            ),
            UpstreamError::Io(_) | UpstreamError::Protocol(_) => (
                "4.4.2",
                "Mất kết nối tới máy chủ thư phía sau",
                "Connection to upstream mail server lost, try again later",
            ),
        };
        Reply::new(451, enhanced, format!("{vi} / {en}"))
    }
}

type Result<T> = std::result::Result<T, UpstreamError>;

/// What the upstream's EHLO reply offered.
#[derive(Debug, Clone, Default)]
pub struct Caps {
    pub pipelining: bool,
    pub starttls: bool,
    pub eight_bit: bool,
    pub smtputf8: bool,
    pub size: bool,
    pub chunking: bool,
    /// XCLIENT attribute names offered (uppercased).
    pub xclient: Vec<String>,
    /// XFORWARD attribute names offered (uppercased).
    pub xforward: Vec<String>,
}

impl Caps {
    fn parse(reply: &Reply) -> Caps {
        let mut caps = Caps::default();
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_whitespace();
            let keyword = words.next().unwrap_or("").to_ascii_uppercase();
            let args = || {
                words
                    .clone()
                    .map(|w| w.to_ascii_uppercase())
                    .collect::<Vec<_>>()
            };
            match keyword.as_str() {
                "PIPELINING" => caps.pipelining = true,
                "STARTTLS" => caps.starttls = true,
                "8BITMIME" => caps.eight_bit = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "SIZE" => caps.size = true,
                "CHUNKING" => caps.chunking = true,
                "XCLIENT" => caps.xclient = args(),
                "XFORWARD" => caps.xforward = args(),
                _ => {}
            }
        }
        caps
    }
}

/// How to reach and talk to one upstream.
#[derive(Clone)]
pub struct UpstreamSettings {
    pub address: String,
    pub tls: UpstreamTls,
    pub tls_config: Arc<rustls::ClientConfig>,
    pub ehlo_name: String,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
}

/// The real client as the upstream should see it.
#[derive(Debug, Clone)]
pub struct ClientIdentity {
    pub addr: SocketAddr,
    pub name: Option<String>,
    pub helo: Option<String>,
    pub login: Option<String>,
    pub esmtp: bool,
    pub tls: bool,
    /// The reverse lookup failed temporarily (NAME=[TEMPUNAVAIL]) rather than found nothing.
    pub name_tempfail: bool,
    /// The proxy in front did not know the client's address: pass that on, never our peer's.
    pub addr_unavailable: bool,
}

/// One open upstream session.
pub struct Upstream {
    stream: Stream,
    rbuf: BytesMut,
    pub caps: Caps,
    settings: UpstreamSettings,
    /// Attributes still to send with XFORWARD before each MAIL (empty with XCLIENT).
    xforward: Option<String>,
    /// Replies to commands written ahead (RFC 2920) that are read with the next command's.
    pending: Vec<&'static str>,
    /// The upstream's refusal of a pipelined MAIL FROM (or XFORWARD), once read.
    mail_refused: Option<Reply>,
    /// The deadline of the current wait (see [`within`]).
    timer: Pin<Box<Sleep>>,
    /// Pipelined commands not written yet (MAIL FROM waits for the first RCPT).
    queued: Vec<u8>,
    /// Reused buffers for sending messages (see `send_message`).
    out: Vec<u8>,
    chunk: Vec<u8>,
}

const MAX_REPLY_LINE: usize = 4096;
/// Bytes read from the spool and written upstream at a time.
const CHUNK: usize = 256 * 1024;
const MAX_REPLY_LINES: usize = 200;

impl Upstream {
    /// Connects, reads the greeting, says EHLO and starts TLS as configured.
    pub async fn connect(settings: UpstreamSettings) -> Result<Upstream> {
        let addr = settings.address.clone();
        let tcp = timeout(settings.connect_timeout, TcpStream::connect(&addr))
            .await
            .map_err(|_| UpstreamError::Connect {
                addr: addr.clone(),
                reason: "connect timed out".into(),
            })?
            .map_err(|e| UpstreamError::Connect {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
        // Commands and replies are small and we always wait for the answer: Nagle would hold
        // each one back for a delayed ACK (40 ms on Linux).
        tcp.set_nodelay(true)?;
        let mut up = Upstream {
            stream: Stream::Plain(tcp),
            rbuf: BytesMut::with_capacity(4096),
            caps: Caps::default(),
            settings,
            xforward: None,
            pending: Vec::new(),
            mail_refused: None,
            queued: Vec::new(),
            timer: Box::pin(tokio::time::sleep(Duration::from_secs(3600))),
            out: Vec::new(),
            chunk: Vec::new(),
        };
        let greeting = up.read_reply("the greeting").await?;
        if greeting.code != 220 {
            return Err(UpstreamError::Refused {
                what: "the connection",
                reply: greeting,
            });
        }
        let name = up.settings.ehlo_name.clone();
        up.ehlo(&name).await?;
        if up.settings.tls != UpstreamTls::Off {
            if up.caps.starttls {
                up.starttls().await?;
                up.ehlo(&name).await?;
            } else if up.settings.tls == UpstreamTls::Required {
                return Err(UpstreamError::Tls(
                    "STARTTLS required by config but not offered".into(),
                ));
            }
        }
        Ok(up)
    }

    pub fn is_tls(&self) -> bool {
        self.stream.is_tls()
    }

    async fn ehlo(&mut self, name: &str) -> Result<()> {
        let reply = self.command(&format!("EHLO {name}"), "EHLO").await?;
        if reply.code == 250 {
            self.caps = Caps::parse(&reply);
            return Ok(());
        }
        let reply = self.command(&format!("HELO {name}"), "HELO").await?;
        if reply.code != 250 {
            return Err(UpstreamError::Refused {
                what: "HELO",
                reply,
            });
        }
        self.caps = Caps::default();
        Ok(())
    }

    async fn starttls(&mut self) -> Result<()> {
        let reply = self.command("STARTTLS", "STARTTLS").await?;
        if reply.code != 220 {
            return Err(UpstreamError::Refused {
                what: "STARTTLS",
                reply,
            });
        }
        if !self.rbuf.is_empty() {
            return Err(UpstreamError::Protocol(
                "data pipelined after STARTTLS reply".into(),
            ));
        }
        let host = self
            .settings
            .address
            .rsplit_once(':')
            .map(|(h, _)| h.trim_matches(['[', ']']).to_string())
            .unwrap_or_default();
        let server_name = ServerName::try_from(host)
            .map_err(|e| UpstreamError::Tls(e.to_string()))?
            .to_owned();
        let tcp = self.stream.take_plain()?;
        let connector = tokio_rustls::TlsConnector::from(self.settings.tls_config.clone());
        let tls = timeout(
            self.settings.command_timeout,
            connector.connect(server_name, tcp),
        )
        .await
        .map_err(|_| UpstreamError::Timeout("the TLS handshake"))?
        .map_err(|e| UpstreamError::Tls(e.to_string()))?;
        self.stream = Stream::Client(Box::new(tls));
        Ok(())
    }

    /// Names the real client with XCLIENT (then EHLO again, as the session restarts), or
    /// prepares XFORWARD for each transaction. Does nothing if the upstream offers neither.
    ///
    /// Returns the upstream's refusal when its own client restrictions (run by Postfix at
    /// XCLIENT time) reject the real client: that is the client's answer, not our failure.
    pub async fn pass_client(&mut self, client: &ClientIdentity) -> Result<Option<Reply>> {
        let attrs = client_attributes(client);
        if !self.caps.xclient.is_empty() {
            let offered = &self.caps.xclient;
            let line: Vec<String> = attrs
                .iter()
                .filter(|(k, _)| offered.iter().any(|o| o == k))
                .map(|(k, v)| format!("{k}={}", xtext_encode(v)))
                .collect();
            let reply = self
                .command(&format!("XCLIENT {}", line.join(" ")), "XCLIENT")
                .await?;
            // Postfix answers with a new 220 greeting; smtp-sink and some others with 250.
            if !reply.is_positive() {
                // "550 5.7.0 Error: insufficient authorization" means our own setup is wrong
                // (smtpd_authorized_xclient_hosts): retry later. Anything else is Postfix
                // judging the real client, and the client must hear it.
                let text = reply.lines.join(" ").to_ascii_lowercase();
                if text.contains("authoriz") || reply.code == 421 {
                    return Err(UpstreamError::Refused {
                        what: "XCLIENT",
                        reply,
                    });
                }
                return Ok(Some(reply));
            }
            let helo = client
                .helo
                .clone()
                .unwrap_or_else(|| self.settings.ehlo_name.clone());
            if client.esmtp {
                self.ehlo(&helo).await?;
            } else {
                // A HELO client stays SMTP in the upstream's logs and Received header; it gets
                // no ESMTP extensions from us either, so none are needed upstream.
                let reply = self.command(&format!("HELO {helo}"), "HELO").await?;
                if reply.code != 250 {
                    return Ok(Some(reply));
                }
                self.caps = Caps::default();
            }
        } else if !self.caps.xforward.is_empty() {
            let offered = &self.caps.xforward;
            let line: Vec<String> = attrs
                .iter()
                .filter(|(k, _)| *k != "LOGIN" && offered.iter().any(|o| o == k))
                .map(|(k, v)| format!("{k}={}", xtext_encode(v)))
                .collect();
            self.xforward = Some(format!("XFORWARD {}", line.join(" ")));
        }
        Ok(None)
    }

    /// False when the upstream has closed an idle session or said something unasked (a 421
    /// at its idle timeout): such a session must not carry the next transaction.
    pub async fn is_alive(&mut self) -> bool {
        if !self.rbuf.is_empty() {
            return false;
        }
        if !self.pending.is_empty() {
            // Replies are owed: the session is mid-conversation, not idle.
            return true;
        }
        // One poll of a read: pending means nothing arrived, which is what a live idle
        // session looks like. (A zero timeout would wait for the timer wheel's next tick,
        // up to a millisecond per transaction.)
        use futures_util::FutureExt;
        self.stream
            .read_buf(&mut self.rbuf)
            .now_or_never()
            .is_none()
    }

    /// MAIL FROM, preceded by XFORWARD when that is how the client is named.
    ///
    /// With PIPELINING the commands are only written, and `None` is returned: their replies are
    /// read together with the first RCPT's, saving a round trip per message. A refusal then
    /// surfaces through [`Upstream::take_mail_refusal`] at RCPT time, where Postfix itself
    /// reports sender restrictions by default (`smtpd_delay_reject = yes`).
    pub async fn mail(&mut self, line: &str) -> Result<Option<Reply>> {
        self.mail_refused = None;
        let mut wire = String::new();
        if let Some(xf) = &self.xforward {
            wire.push_str(xf);
            wire.push_str("\r\n");
        }
        wire.push_str(line);
        wire.push_str("\r\n");
        if self.caps.pipelining {
            // Not even written yet: it leaves with the next command, in the same packet.
            self.queued.extend_from_slice(wire.as_bytes());
            if self.xforward.is_some() {
                self.pending.push("XFORWARD");
            }
            self.pending.push("MAIL");
            return Ok(None);
        }
        self.write(wire.as_bytes(), "MAIL").await?;
        if self.xforward.is_some() {
            let reply = self.read_reply("XFORWARD").await?;
            if !reply.is_positive() {
                let _ = self.read_reply("MAIL").await?;
                return Err(UpstreamError::Refused {
                    what: "XFORWARD",
                    reply,
                });
            }
        }
        self.read_reply("MAIL").await.map(Some)
    }

    /// The upstream's refusal of the last MAIL FROM, if it refused it.
    pub fn take_mail_refusal(&mut self) -> Option<Reply> {
        self.mail_refused.take()
    }

    /// Sends one command line and reads its reply (after any replies pending from pipelining).
    pub async fn command(&mut self, line: &str, what: &'static str) -> Result<Reply> {
        let mut wire = std::mem::take(&mut self.queued);
        wire.extend_from_slice(line.as_bytes());
        wire.extend_from_slice(b"\r\n");
        self.write(&wire, what).await?;
        self.read_pending().await?;
        self.read_reply(what).await
    }

    async fn read_pending(&mut self) -> Result<()> {
        if !self.queued.is_empty() {
            let wire = std::mem::take(&mut self.queued);
            self.write(&wire, "MAIL").await?;
        }
        for what in std::mem::take(&mut self.pending) {
            let reply = self.read_reply(what).await?;
            if !reply.is_positive() && self.mail_refused.is_none() {
                if what == "XFORWARD" {
                    // Not authorised for XFORWARD: our configuration's fault, so retry later.
                    return Err(UpstreamError::Refused { what, reply });
                }
                self.mail_refused = Some(reply);
            }
        }
        Ok(())
    }

    async fn write(&mut self, bytes: &[u8], what: &'static str) -> Result<()> {
        within(
            &mut self.timer,
            self.settings.command_timeout,
            self.stream.write_all(bytes),
        )
        .await
        .map_err(|_| UpstreamError::Timeout(what))??;
        Ok(())
    }

    /// Sends the message: our headers, then the spooled body, with BDAT when the upstream
    /// offers CHUNKING (RFC 3030: one round trip, no dot-stuffing) and DATA otherwise.
    ///
    /// A negative reply to DATA itself is returned as the answer, not as an error.
    /// Sends `headers`, then the spooled message from byte `skip` on: the engine's edited
    /// header block replaces the first `skip` bytes (0: `headers` are only prepended).
    pub async fn send_message(
        &mut self,
        headers: &[u8],
        skip: u64,
        spool: &Spool,
    ) -> Result<(Reply, u64)> {
        self.read_pending().await?;
        // Every reply read so far answered a command we sent. Bytes waiting now answer
        // nothing (RFC 5321 section 4.2: one reply per command, in order): if they were taken
        // for the reply to DATA or BDAT, a stray "250" would make us tell the client its
        // message was accepted while nothing was delivered. The session is out of step.
        self.poll_unasked();
        if !self.rbuf.is_empty() {
            return Err(UpstreamError::Protocol(
                "upstream sent a reply no command asked for".into(),
            ));
        }
        let skip = skip.min(spool.len());
        let sent = spool.len() - skip + headers.len() as u64;
        // One buffer per upstream session, reused for every message: a fresh 256 KiB buffer
        // per message cost more in page faults and zeroing than the rest of the relay.
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        let result = if self.caps.chunking {
            out.extend_from_slice(format!("BDAT {sent} LAST\r\n").as_bytes());
            out.extend_from_slice(headers);
            self.stream_spool(spool, skip, &mut out, |chunk, out| {
                out.extend_from_slice(chunk)
            })
            .await
            .map(|()| "the end of BDAT")
        } else {
            match self.command("DATA", "DATA").await {
                // RFC 5321 section 3.3: only 354 lets the text follow. Anything else here is
                // either a refusal of a transaction whose RCPTs were all accepted or a reply
                // out of step (a stray line read as DATA's answer): both are a failure, so
                // the client retries (4xx) and this session is not reused.
                Ok(reply) if reply.code != 354 => {
                    self.out = out;
                    return Err(UpstreamError::Protocol(format!(
                        "DATA answered {} instead of 354",
                        reply.one_line()
                    )));
                }
                Ok(_) if !self.rbuf.is_empty() => {
                    self.out = out;
                    return Err(UpstreamError::Protocol(
                        "upstream sent more than the 354 reply to DATA".into(),
                    ));
                }
                Ok(_) => {
                    let mut stuffer = DotStuffer::default();
                    stuffer.stuff(headers, &mut out);
                    let streamed = self
                        .stream_spool(spool, skip, &mut out, |chunk, out| {
                            stuffer.stuff(chunk, out)
                        })
                        .await;
                    stuffer.finish(&mut out);
                    match streamed {
                        Ok(()) => self.write_data(&out).await.map(|()| "the end of DATA"),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        };
        out.clear();
        self.out = out;
        let what = result?;
        let reply = within(
            &mut self.timer,
            self.settings.data_timeout,
            read_reply(&mut self.stream, &mut self.rbuf),
        )
        .await
        .map_err(|_| UpstreamError::Timeout(what))??;
        // One reply to the end of DATA (or the last BDAT) and nothing more: a second line
        // means the reply just read may have been a stray one, not this message's answer.
        self.poll_unasked();
        if !self.rbuf.is_empty() {
            return Err(UpstreamError::Protocol(format!(
                "upstream sent more than one reply to {what}"
            )));
        }
        Ok((reply, sent))
    }

    /// Reads, without waiting, whatever the upstream has already sent into `rbuf`.
    fn poll_unasked(&mut self) {
        use futures_util::FutureExt;
        let _ = self.stream.read_buf(&mut self.rbuf).now_or_never();
    }

    /// Passes the spool through `encode` into `out`, writing whenever `out` holds `CHUNK`
    /// bytes; what remains in `out` is the caller's to finish and write (BDAT writes it here).
    async fn stream_spool(
        &mut self,
        spool: &Spool,
        skip: u64,
        out: &mut Vec<u8>,
        mut encode: impl FnMut(&[u8], &mut Vec<u8>),
    ) -> Result<()> {
        if let Some(body) = spool.in_memory() {
            let body = &body[(skip as usize).min(body.len())..];
            for piece in body.chunks(CHUNK) {
                encode(piece, out);
                if out.len() >= CHUNK {
                    self.write_data(out).await?;
                    out.clear();
                }
            }
        } else {
            let mut reader = spool.reader()?;
            std::io::copy(&mut (&mut reader).take(skip), &mut std::io::sink())?;
            let mut chunk = std::mem::take(&mut self.chunk);
            chunk.resize(CHUNK, 0);
            loop {
                let n = match reader.read(&mut chunk) {
                    Ok(n) => n,
                    Err(e) => {
                        self.chunk = chunk;
                        return Err(e.into());
                    }
                };
                if n == 0 {
                    break;
                }
                encode(&chunk[..n], out);
                if out.len() >= CHUNK {
                    if let Err(e) = self.write_data(out).await {
                        self.chunk = chunk;
                        return Err(e);
                    }
                    out.clear();
                }
            }
            self.chunk = chunk;
        }
        if self.caps.chunking {
            self.write_data(out).await?;
            out.clear();
        }
        Ok(())
    }

    async fn write_data(&mut self, bytes: &[u8]) -> Result<()> {
        within(
            &mut self.timer,
            self.settings.data_timeout,
            self.stream.write_all(bytes),
        )
        .await
        .map_err(|_| UpstreamError::Timeout("DATA to be accepted"))??;
        Ok(())
    }

    /// Ends the session politely; errors do not matter any more.
    pub async fn quit(mut self) {
        let _ = timeout(Duration::from_secs(5), async {
            let _ = self.stream.write_all(b"QUIT\r\n").await;
            let _ = self.read_reply_inner().await;
            let _ = self.stream.shutdown().await;
        })
        .await;
    }

    async fn read_reply(&mut self, what: &'static str) -> Result<Reply> {
        within(
            &mut self.timer,
            self.settings.command_timeout,
            read_reply(&mut self.stream, &mut self.rbuf),
        )
        .await
        .map_err(|_| UpstreamError::Timeout(what))?
    }

    async fn read_reply_inner(&mut self) -> Result<Reply> {
        read_reply(&mut self.stream, &mut self.rbuf).await
    }

    /// Bytes the upstream sent that no command asked for yet (it should be none).
    pub fn unread(&self) -> usize {
        self.rbuf.remaining()
    }
}

/// Reads one whole reply (all its lines).
async fn read_reply(stream: &mut Stream, rbuf: &mut BytesMut) -> Result<Reply> {
    let mut lines = Vec::new();
    let mut code = 0u16;
    loop {
        let line = read_line(stream, rbuf).await?;
        let (c, last, text) = parse_reply_line(&line)?;
        if lines.is_empty() {
            code = c;
        } else if c != code {
            return Err(UpstreamError::Protocol(format!(
                "reply code changed from {code} to {c}"
            )));
        }
        lines.push(text);
        if last {
            break;
        }
        if lines.len() > MAX_REPLY_LINES {
            return Err(UpstreamError::Protocol("reply has too many lines".into()));
        }
    }
    Ok(split_enhanced(code, lines))
}

async fn read_line(stream: &mut Stream, rbuf: &mut BytesMut) -> Result<String> {
    loop {
        if let Some(i) = memchr::memchr(b'\n', rbuf) {
            let mut line = rbuf.split_to(i + 1);
            line.truncate(i);
            if line.last() == Some(&b'\r') {
                line.truncate(i - 1);
            }
            return Ok(String::from_utf8_lossy(&line).into_owned());
        }
        if rbuf.len() > MAX_REPLY_LINE {
            return Err(UpstreamError::Protocol("reply line too long".into()));
        }
        rbuf.reserve(4096);
        let n = stream.read_buf(rbuf).await?;
        if n == 0 {
            return Err(UpstreamError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "upstream closed the connection",
            )));
        }
    }
}

/// Runs `fut` until `limit` passes, on a timer reused for every wait of the session:
/// moving a registered timer later costs nothing, where a new `timeout` per command woke the
/// runtime's driver (an eventfd write and a spurious epoll wake-up) several times per message.
async fn within<F: std::future::Future>(
    timer: &mut Pin<Box<Sleep>>,
    limit: Duration,
    fut: F,
) -> std::result::Result<F::Output, tokio::time::error::Elapsed> {
    timer.as_mut().reset(tokio::time::Instant::now() + limit);
    tokio::select! {
        biased;
        v = fut => Ok(v),
        // Elapsed has no public constructor: a zero timeout on a ready future makes one.
        _ = timer.as_mut() => Err(elapsed().await),
    }
}

async fn elapsed() -> tokio::time::error::Elapsed {
    match timeout(Duration::ZERO, std::future::pending::<()>()).await {
        Err(e) => e,
        Ok(()) => unreachable!("a pending future never completes"),
    }
}

/// Postfix's XCLIENT/XFORWARD attributes for the real client (XCLIENT_README).
fn client_attributes(c: &ClientIdentity) -> Vec<(&'static str, String)> {
    let (addr, port) = match c.addr.ip() {
        _ if c.addr_unavailable => ("[UNAVAILABLE]".to_string(), "[UNAVAILABLE]".to_string()),
        std::net::IpAddr::V4(ip) => (ip.to_string(), c.addr.port().to_string()),
        std::net::IpAddr::V6(ip) => (format!("IPV6:{ip}"), c.addr.port().to_string()),
    };
    let mut attrs = vec![
        // Without a verified reverse name we say so, rather than let the upstream assume ours.
        (
            "NAME",
            c.name.clone().unwrap_or_else(|| "[UNAVAILABLE]".into()),
        ),
        ("ADDR", addr),
        ("PORT", port),
        ("PROTO", if c.esmtp { "ESMTP" } else { "SMTP" }.to_string()),
    ];
    if let Some(helo) = &c.helo {
        attrs.push(("HELO", helo.clone()));
    }
    if let Some(login) = &c.login {
        attrs.push(("LOGIN", login.clone()));
    }
    attrs
}

/// Splits `250-text` / `250 text` into code, whether it is the last line, and text.
pub fn parse_reply_line(line: &str) -> Result<(u16, bool, String)> {
    let b = line.as_bytes();
    if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) || !(b'2'..=b'5').contains(&b[0]) {
        return Err(UpstreamError::Protocol(format!(
            "not an SMTP reply: {line:?}"
        )));
    }
    let code: u16 = line[..3]
        .parse()
        .map_err(|_| UpstreamError::Protocol(line.into()))?;
    let (last, text) = match b.get(3) {
        None => (true, ""),
        Some(b' ') => (true, &line[4..]),
        Some(b'-') => (false, &line[4..]),
        Some(_) => {
            return Err(UpstreamError::Protocol(format!(
                "not an SMTP reply: {line:?}"
            )))
        }
    };
    Ok((code, last, text.to_string()))
}

/// Moves an RFC 3463 enhanced status (`5.1.1`) out of the text of every line.
fn split_enhanced(code: u16, lines: Vec<String>) -> Reply {
    let class = char::from(b'0' + (code / 100) as u8);
    let enhanced = lines
        .first()
        .and_then(|l| l.split_whitespace().next())
        .filter(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() == 3
                && w.starts_with(class)
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_string);
    match enhanced {
        Some(e) => {
            let lines = lines
                .into_iter()
                .map(|l| {
                    l.strip_prefix(e.as_str())
                        .map(|t| t.trim_start().to_string())
                        .unwrap_or(l)
                })
                .collect();
            Reply {
                code,
                enhanced: e,
                lines,
            }
        }
        None => Reply::plain(code, lines),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_keep_code_enhanced_status_and_text() {
        let r = split_enhanced(550, vec!["5.1.1 <x@y>: Recipient address rejected".into()]);
        assert_eq!(
            r.to_wire(),
            "550 5.1.1 <x@y>: Recipient address rejected\r\n"
        );
        let r = split_enhanced(250, vec!["2.0.0 Ok: queued as ABC".into()]);
        assert_eq!(r.enhanced, "2.0.0");
        assert_eq!(
            split_enhanced(220, vec!["mx ESMTP".into()]).to_wire(),
            "220 mx ESMTP\r\n"
        );
        assert!(parse_reply_line("hello").is_err());
        assert_eq!(
            parse_reply_line("250-PIPELINING").unwrap(),
            (250, false, "PIPELINING".into())
        );
    }

    #[test]
    fn caps_from_a_postfix_ehlo() {
        let r = Reply::plain(
            250,
            [
                "mx",
                "PIPELINING",
                "SIZE 10240000",
                "STARTTLS",
                "XCLIENT NAME ADDR PROTO HELO",
                "8BITMIME",
                "SMTPUTF8",
            ]
            .map(String::from)
            .to_vec(),
        );
        let c = Caps::parse(&r);
        assert!(c.pipelining && c.starttls && c.eight_bit && c.smtputf8 && c.size);
        assert_eq!(c.xclient, ["NAME", "ADDR", "PROTO", "HELO"]);
        assert!(c.xforward.is_empty());
    }
}
