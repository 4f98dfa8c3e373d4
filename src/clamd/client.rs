//! The thin tokio driver over [`super::codec`]: one connection per command, TCP or Unix socket,
//! with a connect timeout and a whole-scan timeout.

use std::fmt;
use std::io::{self, Read};
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::codec::{
    chunk_header, parse_scan_reply, Progress, ReplyReader, ScanReply, END_OF_STREAM, INSTREAM,
    PING, VERSION,
};

/// Bytes per INSTREAM chunk: large enough that framing costs nothing, small enough that a
/// session holds little beyond the spool's own buffer.
pub const CHUNK: usize = 64 * 1024;

/// Where a clamd listens: `host:port` (clamd's `TCPSocket`) or `unix:/path` (`LocalSocket`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Tcp(String),
    Unix(PathBuf),
}

impl Endpoint {
    /// Parses `127.0.0.1:3310`, `[::1]:3310`, `clamd.local:3310` or `unix:/run/clamav/clamd.ctl`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Some(path) = s.strip_prefix("unix:") {
            if !path.starts_with('/') {
                return Err(format!(
                    "clamd endpoint `{s}`: a unix socket path must be absolute"
                ));
            }
            return Ok(Endpoint::Unix(PathBuf::from(path)));
        }
        match s.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(Endpoint::Tcp(s.to_string()))
            }
            _ => Err(format!(
                "clamd endpoint `{s}`: write host:port (127.0.0.1:3310) or unix:/path/to/clamd.ctl"
            )),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(a) => f.write_str(a),
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// Why talking to clamd failed; each variant says who failed (STYLE.md habit 6).
#[derive(Debug, thiserror::Error)]
pub enum ClamdError {
    #[error("cannot connect: {0}")]
    Connect(io::Error),
    #[error("connect timed out")]
    ConnectTimeout,
    #[error("no answer within the scan timeout")]
    Timeout,
    #[error("connection failed: {0}")]
    Io(io::Error),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("clamd error: {0}")]
    Clamd(String),
    /// The stream passed clamd's `StreamMaxLength`.
    #[error("stream larger than clamd's StreamMaxLength")]
    SizeLimit,
    /// Reading our own spool failed: not the scanner's fault, retrying elsewhere cannot help.
    #[error("reading the message: {0}")]
    Source(io::Error),
}

impl ClamdError {
    /// A bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ClamdError::Connect(_) => "connect",
            ClamdError::ConnectTimeout => "connect_timeout",
            ClamdError::Timeout => "timeout",
            ClamdError::Io(_) => "io",
            ClamdError::Protocol(_) => "protocol",
            ClamdError::Clamd(_) => "clamd",
            ClamdError::SizeLimit => "size_limit",
            ClamdError::Source(_) => "source",
        }
    }
}

/// A scan's answer once clamd read the whole stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// The sanitised signature name.
    Found(String),
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One clamd endpoint with its timeouts.
#[derive(Debug, Clone)]
pub struct Client {
    pub endpoint: Endpoint,
    pub connect_timeout: Duration,
    /// Bounds everything after the connect: sending the stream, clamd's scan, the reply.
    pub scan_timeout: Duration,
}

impl Client {
    pub fn new(endpoint: Endpoint, connect_timeout: Duration, scan_timeout: Duration) -> Self {
        Client {
            endpoint,
            connect_timeout,
            scan_timeout,
        }
    }

    async fn connect(&self) -> Result<Box<dyn Io>, ClamdError> {
        let connect = async {
            match &self.endpoint {
                Endpoint::Tcp(addr) => {
                    let s = tokio::net::TcpStream::connect(addr.as_str()).await?;
                    s.set_nodelay(true)?;
                    Ok(Box::new(s) as Box<dyn Io>)
                }
                #[cfg(unix)]
                Endpoint::Unix(path) => {
                    let s = tokio::net::UnixStream::connect(path).await?;
                    Ok(Box::new(s) as Box<dyn Io>)
                }
                #[cfg(not(unix))]
                Endpoint::Unix(_) => Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "unix sockets need a unix system",
                )),
            }
        };
        match tokio::time::timeout(self.connect_timeout, connect).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(ClamdError::Connect(e)),
            Err(_) => Err(ClamdError::ConnectTimeout),
        }
    }

    /// Sends a short command and returns clamd's reply; the reply is bounded by the connect
    /// timeout too, since PING and VERSION cost clamd nothing.
    async fn command(&self, cmd: &[u8]) -> Result<String, ClamdError> {
        let mut s = self.connect().await?;
        let exchange = async {
            s.write_all(cmd).await.map_err(ClamdError::Io)?;
            read_reply(&mut s).await
        };
        tokio::time::timeout(self.connect_timeout, exchange)
            .await
            .map_err(|_| ClamdError::Timeout)?
    }

    /// `PING`: Ok when clamd answers `PONG`.
    pub async fn ping(&self) -> Result<(), ClamdError> {
        match self.command(PING).await?.as_str() {
            "PONG" => Ok(()),
            other => Err(ClamdError::Protocol(format!(
                "PING answered `{}`",
                super::codec::sanitize_name(other)
            ))),
        }
    }

    /// `VERSION`: e.g. `ClamAV 1.4.6/27500/Tue Nov 25 09:00:00 2026`, sanitised.
    pub async fn version(&self) -> Result<String, ClamdError> {
        Ok(super::codec::sanitize_name(&self.command(VERSION).await?))
    }

    /// Streams `src` to clamd with INSTREAM and returns its verdict.
    ///
    /// `src` is read synchronously in [`CHUNK`]-sized pieces: it is the spool, in memory or in
    /// the page cache, where a read costs less than a hop to a blocking thread.
    pub async fn scan(&self, src: &mut (dyn Read + Send)) -> Result<Verdict, ClamdError> {
        let stream = self.connect().await?;
        match tokio::time::timeout(self.scan_timeout, instream(stream, src)).await {
            Ok(r) => r,
            Err(_) => Err(ClamdError::Timeout),
        }
    }
}

/// Writes the stream while watching for an early reply: clamd answers `size limit exceeded`
/// and closes as soon as the stream passes `StreamMaxLength`, and that reply must not be lost
/// to the broken pipe our next write then gets.
async fn instream(stream: Box<dyn Io>, src: &mut (dyn Read + Send)) -> Result<Verdict, ClamdError> {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let write = async {
        wr.write_all(INSTREAM).await.map_err(ClamdError::Io)?;
        let mut buf = vec![0u8; 4 + CHUNK];
        loop {
            let n = read_full(src, &mut buf[4..]).map_err(ClamdError::Source)?;
            if n == 0 {
                break;
            }
            // n <= CHUNK, which fits in u32.
            buf[..4].copy_from_slice(&chunk_header(n as u32));
            wr.write_all(&buf[..4 + n]).await.map_err(ClamdError::Io)?;
        }
        wr.write_all(&END_OF_STREAM).await.map_err(ClamdError::Io)?;
        wr.flush().await.map_err(ClamdError::Io)
    };
    let read = read_reply(&mut rd);
    tokio::pin!(write, read);
    let mut sent = false;
    let mut write_err = None;
    loop {
        tokio::select! {
            r = &mut write, if !sent && write_err.is_none() => match r {
                Ok(()) => sent = true,
                Err(e @ ClamdError::Source(_)) => return Err(e),
                // Keep reading: the reply may say why clamd stopped reading.
                Err(e) => write_err = Some(e),
            },
            r = &mut read => {
                let reply = match (r, write_err) {
                    (Ok(reply), _) => reply,
                    (Err(_), Some(w)) => return Err(w),
                    (Err(e), None) => return Err(e),
                };
                return match parse_scan_reply(&reply) {
                    ScanReply::SizeLimit => Err(ClamdError::SizeLimit),
                    ScanReply::Error(m) => Err(ClamdError::Clamd(m)),
                    ScanReply::Unexpected(m) => Err(ClamdError::Protocol(format!("reply `{m}`"))),
                    // A verdict before the end of the stream is not about the whole message.
                    _ if !sent => Err(ClamdError::Protocol(
                        "verdict before the end of the stream".into(),
                    )),
                    ScanReply::Clean => Ok(Verdict::Clean),
                    ScanReply::Found(name) => Ok(Verdict::Found(name)),
                };
            }
        }
    }
}

async fn read_reply<R: AsyncRead + Unpin + ?Sized>(rd: &mut R) -> Result<String, ClamdError> {
    let mut reply = ReplyReader::new();
    let mut buf = [0u8; 512];
    loop {
        let n = rd.read(&mut buf).await.map_err(ClamdError::Io)?;
        match reply.push(&buf[..n], n == 0) {
            Progress::Complete(s) => return Ok(s),
            Progress::NeedMore => {}
            // A close is the connection failing (clamd died or restarted), not a bad reply.
            Progress::Invalid(why) if n == 0 => {
                return Err(ClamdError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    why,
                )))
            }
            Progress::Invalid(why) => return Err(ClamdError::Protocol(why.into())),
        }
    }
}

/// Fills `buf` unless the source ends first; returns the bytes read.
fn read_full(src: &mut (dyn Read + Send), buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        assert_eq!(
            Endpoint::parse("127.0.0.1:3310").unwrap(),
            Endpoint::Tcp("127.0.0.1:3310".into())
        );
        assert_eq!(
            Endpoint::parse("[::1]:3310").unwrap(),
            Endpoint::Tcp("[::1]:3310".into())
        );
        assert_eq!(
            Endpoint::parse("unix:/run/clamav/clamd.ctl").unwrap(),
            Endpoint::Unix("/run/clamav/clamd.ctl".into())
        );
        assert!(Endpoint::parse("unix:clamd.ctl").is_err());
        assert!(Endpoint::parse("127.0.0.1").is_err());
        assert!(Endpoint::parse("127.0.0.1:99999").is_err());
        assert_eq!(
            Endpoint::parse("unix:/x").unwrap().to_string(),
            "unix:/x".to_string()
        );
    }
}
