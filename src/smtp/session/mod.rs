//! One client session: ESMTP towards the client, a matching upstream session, and the engine
//! consulted at each stage. The never-lose contract lives here: the client hears 250 for its
//! message only after the upstream answered 250 for it (or it is safely in quarantine).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use memchr::memchr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tracing::{debug, info, warn};

use super::command::{self, Body, Command, CommandError, MailFrom};
use super::data::{DataDecoder, DataLimits};
use super::rdns::{self, ReverseName};
use super::stream::Stream;
use super::upstream::{ClientIdentity, Upstream, UpstreamError};
use super::Reply;
use crate::config::BareLf;
use crate::conns::Slot;
use crate::engine::Engine;
use crate::engine::{Client, Connection, Disposition, Done, Envelope, Faults, Role, Verdict};
use crate::metrics::metrics;
use crate::runtime::{ListenerRuntime, SessionSettings};
use crate::spool::Spool;

mod content;
mod envelope;
mod io;
mod upstream_leg;

/// How much room a read into the client buffer gets.
const READ_CHUNK: usize = 64 * 1024;

/// Where the process is in its life; sessions watch it to drain on SIGTERM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Running,
    /// Finish the transaction in flight, then close with 421.
    Draining,
    /// Close now with 421.
    Stop,
}

/// How a session ended, for the connection log line.
#[derive(Debug)]
enum End {
    Quit,
    /// The client sent commands before it could have seen our reply, without PIPELINING.
    Desync,
    ClientGone,
    Timeout,
    /// The client did not read our replies within the deadline.
    WriteTimeout,
    /// Idle longest when the connection limit was reached (see `conns`).
    Evicted,
    /// The real client named by XCLIENT is at its per-IP connection limit.
    PerIpLimit,
    TooManyErrors,
    Shutdown,
    Io(std::io::Error),
}

enum UpSlot {
    None,
    Connecting(JoinHandle<Result<Upstream, UpstreamError>>),
    /// Connected; `true` once the real client has been named with XCLIENT/XFORWARD.
    Ready(Box<Upstream>, bool),
}

struct Tx {
    env: Envelope,
    started: Instant,
    /// The upstream refused the pipelined MAIL FROM: every RCPT gets that answer.
    mail_refused: Option<Reply>,
    /// The MAIL FROM line sent upstream, to replay on a new upstream session at the end of
    /// DATA if the first one was closed meanwhile (see `Session::restore_envelope`).
    mail_line: String,
    /// A RCPT was tried (accepted or not): DATA then means "no valid recipients" (554),
    /// before any it is out of sequence (503), as Postfix and RFC 5321 3.3 tell them apart.
    rcpt_tried: bool,
}

/// Runs a session to its end. Never panics on client input; every path answers the client.
pub async fn run(
    tcp: TcpStream,
    peer: SocketAddr,
    listener: Arc<str>,
    role: Role,
    (cfg, engine): (Arc<SessionSettings>, Arc<Engine>),
    phase: watch::Receiver<Phase>,
    slot: Slot,
) {
    let id = slot.id();
    let _ = tcp.set_nodelay(true);
    let trusted = cfg
        .server
        .trusted_networks
        .iter()
        .any(|n| n.contains(&peer.ip()));
    let proxy_peer = cfg
        .server
        .proxy_peers
        .iter()
        .any(|n| n.contains(&peer.ip()));
    let conn = Connection {
        id,
        listener: listener.clone(),
        role,
        client: Client {
            addr: peer,
            name: None,
            helo: None,
            login: None,
            trusted,
            addr_unavailable: false,
        },
        tls: false,
    };
    let spool = Spool::new(
        &cfg.server.spool_dir,
        cfg.server.spool_memory.bytes() as usize,
    );
    let mut s = Session {
        cfg,
        engine,
        io: Stream::Plain(tcp),
        rbuf: BytesMut::with_capacity(8192),
        wbuf: Vec::with_capacity(1024),
        conn,
        proxy_peer,
        greeted: false,
        esmtp: false,
        tx: None,
        bdat: None,
        pipelining_ok: false,
        name_lookup: None,
        name_tempfail: false,
        upstream: UpSlot::None,
        bad: 0,
        phase,
        spool,
        idle: Box::pin(tokio::time::sleep(Duration::from_secs(3600))),
        slot,
    };
    let end = s.serve().await;
    if !matches!(end, End::WriteTimeout) {
        let _ = s.flush().await;
    }
    let cut = match &end {
        End::Timeout => Some("timeout"),
        End::WriteTimeout => Some("write_timeout"),
        End::Evicted => Some("evicted"),
        _ => None,
    };
    if let Some(reason) = cut {
        metrics()
            .connections_cut
            .with_label_values(&[&listener, reason])
            .inc();
    }
    if let UpSlot::Ready(up, _) = std::mem::replace(&mut s.upstream, UpSlot::None) {
        up.quit().await;
    }
    match end {
        End::Io(e) => {
            debug!(conn = id, client = %peer, listener = %listener, error = %e, "session closed on I/O error")
        }
        end => {
            debug!(conn = id, client = %peer, listener = %listener, end = ?end, "session closed")
        }
    }
}

struct Session {
    /// The transport settings of the generation the session started with.
    cfg: Arc<SessionSettings>,
    engine: Arc<Engine>,
    io: Stream,
    rbuf: BytesMut,
    wbuf: Vec<u8>,
    conn: Connection,
    /// The peer may name the real client with XCLIENT/XFORWARD.
    proxy_peer: bool,
    greeted: bool,
    esmtp: bool,
    tx: Option<Tx>,
    /// The BDAT chunks of the transaction so far (RFC 3030).
    bdat: Option<DataDecoder>,
    /// The client saw PIPELINING in our EHLO reply before sending what is buffered.
    pipelining_ok: bool,
    /// The client's reverse name, being looked up since connect.
    name_lookup: Option<JoinHandle<ReverseName>>,
    name_tempfail: bool,
    upstream: UpSlot,
    bad: u32,
    phase: watch::Receiver<Phase>,
    spool: Spool,
    /// The deadline of the current wait for the client (see `read_more`).
    idle: std::pin::Pin<Box<tokio::time::Sleep>>,
    /// This connection's place in the connection limits.
    slot: Slot,
}

enum Input {
    Line(Vec<u8>),
    TooLong,
}

impl Session {
    fn listener(&self) -> &ListenerRuntime {
        // Runtime::build makes one entry per configured listener, and a session only ever
        // starts for a configured listener of its own generation.
        &self.cfg.listeners[self.conn.listener.as_ref()]
    }

    async fn serve(&mut self) -> End {
        let verdict = self.engine.connect(&self.conn).await;
        if let Some(reply) = verdict.refusal() {
            self.count(&verdict);
            self.reply(reply);
            return End::Quit;
        }
        let greeting = format!("{} ESMTP locthu", self.cfg.server.hostname);
        self.reply(Reply::plain(220, vec![greeting]));
        // The upstream session opens at the first MAIL FROM, as Postfix's smtpd_proxy_filter
        // does: a connection that never sends mail costs the upstream nothing.
        if self.cfg.server.reverse_dns {
            let ip = self.conn.client.addr.ip();
            let limit = self.cfg.server.reverse_dns_timeout.get();
            self.name_lookup = Some(tokio::spawn(rdns::lookup(ip, limit)));
        }
        loop {
            let input = match self.next_line().await {
                Ok(i) => i,
                Err(end) => return end,
            };
            let line = match input {
                Input::TooLong => {
                    self.error(Reply::new(
                        500,
                        "5.5.2",
                        "Dòng lệnh quá dài / Line too long",
                    ));
                    if self.too_many_errors() {
                        return End::TooManyErrors;
                    }
                    continue;
                }
                Input::Line(l) => l,
            };
            match command::parse(&line) {
                Ok(cmd) => {
                    if let Some(end) = self.handle(cmd).await {
                        return end;
                    }
                }
                Err(e) => self.error(command_error_reply(&e)),
            }
            if self.too_many_errors() {
                return End::TooManyErrors;
            }
        }
    }

    fn too_many_errors(&mut self) -> bool {
        if self.bad > self.cfg.limits.max_bad_commands {
            self.reply(Reply::new(
                421,
                "4.7.0",
                "Quá nhiều lỗi, đóng kết nối / Too many errors, closing connection",
            ));
            return true;
        }
        false
    }

    /// Handles one command; `Some` ends the session.
    async fn handle(&mut self, cmd: Command) -> Option<End> {
        match cmd {
            Command::Ehlo(name) => self.helo(name, true).await,
            Command::Helo(name) => self.helo(name, false).await,
            Command::Mail(_) if self.phase() != Phase::Running && self.tx.is_none() => {
                return Some(self.shutdown_reply());
            }
            Command::Mail(m) => self.mail(m).await,
            Command::Rcpt(r) => self.rcpt(r.to).await,
            Command::Data => return self.data().await,
            Command::Rset => {
                self.abort_tx().await;
                self.reply(Reply::new(250, "2.0.0", "Ok"));
            }
            Command::Noop => self.reply(Reply::new(250, "2.0.0", "Ok")),
            Command::Quit => {
                self.reply(Reply::new(221, "2.0.0", "Bye"));
                return Some(End::Quit);
            }
            // RFC 5321 3.5.3: 252 is the polite way not to confirm an address.
            Command::Vrfy => self.reply(Reply::new(
                252,
                "2.5.2",
                "Không xác minh địa chỉ, hãy gửi thư / Cannot VRFY user, but will accept message and attempt delivery",
            )),
            Command::Expn => self.error(Reply::new(502, "5.5.1", "EXPN không được hỗ trợ / EXPN not available")),
            Command::Help => self.reply(Reply::new(214, "2.0.0", "https://www.rfc-editor.org/rfc/rfc5321")),
            Command::Auth => self.error(Reply::new(
                502,
                "5.5.1",
                "Không hỗ trợ AUTH ở cổng này / AUTH not available on this port",
            )),
            Command::Bdat { size, last } => return self.bdat(size, last).await,
            Command::StartTls => return self.starttls().await,
            Command::Xclient(attrs) => return self.xclient(attrs, true).await,
            Command::Xforward(attrs) => return self.xclient(attrs, false).await,
        }
        None
    }

    async fn helo(&mut self, name: String, esmtp: bool) {
        self.abort_tx().await;
        self.conn.client.helo = Some(name);
        let verdict = self.engine.helo(&self.conn).await;
        if let Some(reply) = verdict.refusal() {
            self.count(&verdict);
            self.greeted = false;
            return self.reply(reply);
        }
        self.greeted = true;
        self.esmtp = esmtp;
        self.pipelining_ok = false;
        if !esmtp {
            self.reply(Reply::plain(250, vec![self.cfg.server.hostname.clone()]));
            return;
        }
        let mut lines = vec![
            self.cfg.server.hostname.clone(),
            "PIPELINING".into(),
            format!("SIZE {}", self.cfg.limits.message_size.bytes()),
            "8BITMIME".into(),
            "SMTPUTF8".into(),
            "ENHANCEDSTATUSCODES".into(),
            "CHUNKING".into(),
        ];
        if self.listener().tls.is_some() && !self.conn.tls {
            lines.push("STARTTLS".into());
        }
        if self.proxy_peer {
            lines.push("XCLIENT NAME ADDR PORT PROTO HELO LOGIN".into());
            lines.push("XFORWARD NAME ADDR PORT PROTO HELO SOURCE".into());
        }
        self.reply(Reply::plain(250, lines));
    }

    async fn starttls(&mut self) -> Option<End> {
        let Some(acceptor) = self.listener().tls.clone() else {
            self.error(Reply::new(
                502,
                "5.5.1",
                "STARTTLS không được hỗ trợ / STARTTLS not available",
            ));
            return None;
        };
        if self.conn.tls {
            self.error(Reply::new(503, "5.5.1", "Đã dùng TLS / TLS already active"));
            return None;
        }
        // RFC 3207 4.2 resets the session to its start: a transaction open on our side would
        // meet "503 nested MAIL" upstream at the next MAIL. Postfix refuses the same way.
        if self.tx.is_some() {
            self.error(Reply::new(
                503,
                "5.5.1",
                "Giao dịch đang mở / STARTTLS not allowed inside a transaction",
            ));
            return None;
        }
        self.reply(Reply::new(220, "2.0.0", "Ready to start TLS"));
        if let Err(end) = self.flush().await {
            return Some(end);
        }
        // RFC 3207 6 (CVE-2011-0411): anything pipelined after STARTTLS was sent in clear and
        // must not be taken as a command of the encrypted session.
        self.rbuf.clear();
        let tcp = match self.io.take_plain() {
            Ok(t) => t,
            Err(e) => return Some(End::Io(e)),
        };
        let handshake = timeout(self.cfg.limits.command_timeout.get(), acceptor.accept(tcp)).await;
        match handshake {
            Ok(Ok(tls)) => {
                self.io = Stream::Server(Box::new(tls));
                self.conn.tls = true;
                self.greeted = false;
                self.esmtp = false;
                self.pipelining_ok = false;
                self.tx = None;
                self.bdat = None;
                None
            }
            Ok(Err(e)) => Some(End::Io(e)),
            Err(_) => Some(End::Timeout),
        }
    }

    /// XCLIENT (session-wide, resets like a new connection) or XFORWARD (attributes for the
    /// next transaction) from a trusted proxy in front of us.
    async fn xclient(&mut self, attrs: Vec<(String, String)>, is_xclient: bool) -> Option<End> {
        if !self.proxy_peer {
            self.error(Reply::new(550, "5.7.0", "Không được phép / Not authorized"));
            return None;
        }
        if self.tx.is_some() {
            self.error(Reply::new(
                503,
                "5.5.1",
                "Giao dịch đang mở / Transaction in progress",
            ));
            return None;
        }
        // Validate every attribute before changing anything: a malformed ADDR must not leave
        // the client half-renamed (and so judged as the trusted proxy itself).
        let mut addr = None;
        let mut port = None;
        for (k, v) in &attrs {
            let unknown =
                v.eq_ignore_ascii_case("[UNAVAILABLE]") || v.eq_ignore_ascii_case("[TEMPUNAVAIL]");
            match k.as_str() {
                "ADDR" if unknown => addr = Some(None),
                "ADDR" => match parse_xclient_addr(v) {
                    Some(ip) => addr = Some(Some(ip)),
                    None => {
                        self.error(Reply::new(
                            501,
                            "5.5.4",
                            format!("Sai địa chỉ ADDR / Bad ADDR syntax: {v}"),
                        ));
                        return None;
                    }
                },
                "PORT" if unknown => port = Some(0),
                "PORT" => match v.parse::<u16>() {
                    Ok(p) => port = Some(p),
                    Err(_) => {
                        self.error(Reply::new(
                            501,
                            "5.5.4",
                            format!("Sai cổng PORT / Bad PORT syntax: {v}"),
                        ));
                        return None;
                    }
                },
                _ => {}
            }
        }
        // The per-IP limit counts the real client, not the proxy: behind smtpd_proxy_filter
        // every session comes from Postfix's address, and Postfix names the client with
        // XFORWARD in a session of its own per client session (SMTPD_PROXY_README).
        if let Some(Some(ip)) = addr {
            let config = &self.cfg;
            let (exempt, max) = (
                config.per_ip_exempt(ip),
                config.limits.max_connections_per_ip,
            );
            if self.slot.rekey(ip, exempt, max).is_err() {
                self.reply(Reply::new(
                    421,
                    "4.7.0",
                    "Quá nhiều kết nối từ địa chỉ của bạn / Too many connections from your address",
                ));
                return Some(End::PerIpLimit);
            }
        }
        let c = &mut self.conn.client;
        match addr {
            Some(Some(ip)) => {
                c.addr = SocketAddr::new(ip, c.addr.port());
                c.addr_unavailable = false;
            }
            // Postfix: an unavailable address matches no network, so the client is nobody we
            // trust, whatever the proxy's own address is.
            Some(None) => c.addr_unavailable = true,
            None => {}
        }
        if let Some(p) = port {
            c.addr.set_port(p);
        }
        for (k, v) in attrs {
            let unknown =
                v.eq_ignore_ascii_case("[UNAVAILABLE]") || v.eq_ignore_ascii_case("[TEMPUNAVAIL]");
            match k.as_str() {
                "NAME" => c.name = (!unknown).then_some(v),
                "HELO" => c.helo = (!unknown).then_some(v),
                "LOGIN" => c.login = (!unknown && !v.is_empty()).then_some(v),
                _ => {}
            }
        }
        c.trusted = !c.addr_unavailable
            && self
                .cfg
                .server
                .trusted_networks
                .iter()
                .any(|n| n.contains(&c.addr.ip()));
        // The proxy in front looked the name up already: ours would be of the proxy itself.
        if let Some(task) = self.name_lookup.take() {
            task.abort();
        }
        self.name_tempfail = false;
        // The upstream must hear about the new client before the next transaction.
        if let UpSlot::Ready(_, named) = &mut self.upstream {
            *named = false;
        }
        // Connect-time checks judge the real client now that we know it.
        let verdict = self.engine.connect(&self.conn).await;
        if let Some(reply) = verdict.refusal() {
            self.count(&verdict);
            self.reply(reply);
            return None;
        }
        if is_xclient {
            self.greeted = false;
            let greeting = format!("{} ESMTP locthu", self.cfg.server.hostname);
            self.reply(Reply::plain(220, vec![greeting]));
        } else {
            self.reply(Reply::new(250, "2.0.0", "Ok"));
        }
        None
    }

    fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    fn count(&self, verdict: &Verdict) {
        crate::engine::count(&self.conn.listener, verdict);
    }
}

/// XCLIENT's ADDR (XCLIENT_README): an IPv4 address, or `IPV6:` and an IPv6 one.
fn parse_xclient_addr(v: &str) -> Option<std::net::IpAddr> {
    match v.get(..5) {
        Some(p) if p.eq_ignore_ascii_case("IPV6:") => {
            v[5..].parse::<std::net::Ipv6Addr>().ok().map(Into::into)
        }
        _ => v.parse().ok(),
    }
}

fn command_error_reply(e: &CommandError) -> Reply {
    match e {
        CommandError::Unknown => {
            Reply::new(500, "5.5.2", "Lệnh không hợp lệ / Command unrecognized")
        }
        CommandError::Syntax(why) => {
            Reply::new(501, "5.5.4", format!("Sai cú pháp / Syntax error: {why}"))
        }
        CommandError::Parameter(p) => Reply::new(
            555,
            "5.5.4",
            format!("Tham số không được hỗ trợ / Unsupported parameter: {p}"),
        ),
        CommandError::NeedsSmtpUtf8 => Reply::new(
            553,
            "5.6.7",
            "Địa chỉ UTF-8 cần SMTPUTF8 / UTF-8 address needs the SMTPUTF8 parameter",
        ),
    }
}
