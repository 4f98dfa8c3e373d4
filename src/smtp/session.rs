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
use crate::engine::{
    rule, Action, Bilingual, Client, Connection, Envelope, Finding, Role, Verdict,
};
use crate::metrics::metrics;
use crate::runtime::{ListenerRuntime, Runtime};
use crate::spool::Spool;

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
}

/// Runs a session to its end. Never panics on client input; every path answers the client.
pub async fn run(
    tcp: TcpStream,
    peer: SocketAddr,
    id: u64,
    listener: Arc<str>,
    role: Role,
    rt: Arc<Runtime>,
    phase: watch::Receiver<Phase>,
) {
    let _ = tcp.set_nodelay(true);
    let trusted = rt
        .config
        .server
        .trusted_networks
        .iter()
        .any(|n| n.contains(&peer.ip()));
    let proxy_peer = rt
        .config
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
        },
        tls: false,
    };
    let spool = Spool::new(
        &rt.config.server.spool_dir,
        rt.config.server.spool_memory.bytes() as usize,
    );
    let mut s = Session {
        rt,
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
    };
    let end = s.serve().await;
    let _ = s.flush().await;
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
    rt: Arc<Runtime>,
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
}

enum Input {
    Line(Vec<u8>),
    TooLong,
}

impl Session {
    fn listener(&self) -> &ListenerRuntime {
        // Runtime::build makes one entry per configured listener, and a session only ever
        // starts for a configured listener of its own generation.
        &self.rt.listeners[self.conn.listener.as_ref()]
    }

    async fn serve(&mut self) -> End {
        let verdict = self.rt.engine.connect(&self.conn);
        if let Some(reply) = verdict.refusal() {
            self.count(&verdict);
            self.reply(reply);
            return End::Quit;
        }
        let greeting = format!("{} ESMTP locthu", self.rt.config.server.hostname);
        self.reply(Reply::plain(220, vec![greeting]));
        self.start_upstream();
        if self.rt.config.server.reverse_dns {
            let ip = self.conn.client.addr.ip();
            let limit = self.rt.config.server.reverse_dns_timeout.get();
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
        if self.bad > self.rt.config.limits.max_bad_commands {
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
            Command::Xclient(attrs) => self.xclient(attrs, true).await,
            Command::Xforward(attrs) => self.xclient(attrs, false).await,
        }
        None
    }

    async fn helo(&mut self, name: String, esmtp: bool) {
        self.abort_tx().await;
        self.conn.client.helo = Some(name);
        self.greeted = true;
        self.esmtp = esmtp;
        self.pipelining_ok = false;
        if !esmtp {
            self.reply(Reply::plain(
                250,
                vec![self.rt.config.server.hostname.clone()],
            ));
            return;
        }
        let mut lines = vec![
            self.rt.config.server.hostname.clone(),
            "PIPELINING".into(),
            format!("SIZE {}", self.rt.config.limits.message_size.bytes()),
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
        self.reply(Reply::new(220, "2.0.0", "Ready to start TLS"));
        if let Err(e) = self.flush().await {
            return Some(End::Io(e));
        }
        // RFC 3207 6 (CVE-2011-0411): anything pipelined after STARTTLS was sent in clear and
        // must not be taken as a command of the encrypted session.
        self.rbuf.clear();
        let tcp = match self.io.take_plain() {
            Ok(t) => t,
            Err(e) => return Some(End::Io(e)),
        };
        let handshake = timeout(
            self.rt.config.limits.command_timeout.get(),
            acceptor.accept(tcp),
        )
        .await;
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
    async fn xclient(&mut self, attrs: Vec<(String, String)>, is_xclient: bool) {
        if !self.proxy_peer {
            self.error(Reply::new(550, "5.7.0", "Không được phép / Not authorized"));
            return;
        }
        if self.tx.is_some() {
            self.error(Reply::new(
                503,
                "5.5.1",
                "Giao dịch đang mở / Transaction in progress",
            ));
            return;
        }
        let c = &mut self.conn.client;
        for (k, v) in attrs {
            let unknown =
                v.eq_ignore_ascii_case("[UNAVAILABLE]") || v.eq_ignore_ascii_case("[TEMPUNAVAIL]");
            match k.as_str() {
                "ADDR" => {
                    let ip = v.strip_prefix("IPV6:").unwrap_or(&v);
                    if let Ok(ip) = ip.parse() {
                        c.addr = SocketAddr::new(ip, c.addr.port());
                    }
                }
                "PORT" => {
                    if let Ok(p) = v.parse() {
                        c.addr.set_port(p);
                    }
                }
                "NAME" => c.name = (!unknown).then_some(v),
                "HELO" => c.helo = (!unknown).then_some(v),
                "LOGIN" => c.login = (!unknown && !v.is_empty()).then_some(v),
                _ => {}
            }
        }
        c.trusted = self
            .rt
            .config
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
        let verdict = self.rt.engine.connect(&self.conn);
        if let Some(reply) = verdict.refusal() {
            self.count(&verdict);
            return self.reply(reply);
        }
        if is_xclient {
            self.greeted = false;
            let greeting = format!("{} ESMTP locthu", self.rt.config.server.hostname);
            self.reply(Reply::plain(220, vec![greeting]));
        } else {
            self.reply(Reply::new(250, "2.0.0", "Ok"));
        }
    }

    async fn mail(&mut self, m: MailFrom) {
        if !self.greeted {
            return self.error(Reply::new(
                503,
                "5.5.1",
                "Hãy gửi EHLO trước / Send HELO/EHLO first",
            ));
        }
        if self.tx.is_some() {
            return self.error(Reply::new(
                503,
                "5.5.1",
                "Lệnh MAIL lồng nhau / Nested MAIL command",
            ));
        }
        if self.phase() != Phase::Running {
            return self.reply(Reply::new(
                421,
                "4.3.2",
                "Máy chủ đang dừng / Service shutting down",
            ));
        }
        let env = Envelope {
            mail_from: m.from.clone(),
            size_hint: m.size,
            smtputf8: m.smtputf8,
            eight_bit: m.body == Some(Body::EightBitMime),
            ..Envelope::default()
        };
        let verdict = self.rt.engine.mail(&self.conn, &env);
        if let Some(reply) = verdict.refusal() {
            self.count(&verdict);
            return self.reply(reply);
        }
        let up = match self.ready_upstream().await {
            Ok(Ok(up)) => up,
            Ok(Err(refusal)) => return self.relay(refusal),
            Err(e) => return self.upstream_failed(e),
        };
        if m.smtputf8 && !up.caps.smtputf8 {
            return self.reply(Reply::new(
                550,
                "5.6.7",
                "Máy chủ phía sau không hỗ trợ SMTPUTF8 / SMTPUTF8 not supported by the next hop",
            ));
        }
        let mut line = format!("MAIL FROM:<{}>", m.from);
        if let (Some(size), true) = (m.size, up.caps.size) {
            line.push_str(&format!(" SIZE={size}"));
        }
        if m.body == Some(Body::EightBitMime) && up.caps.eight_bit {
            line.push_str(" BODY=8BITMIME");
        }
        if m.smtputf8 {
            line.push_str(" SMTPUTF8");
        }
        match up.mail(&line).await {
            Ok(reply) => {
                let reply = reply.unwrap_or_else(|| Reply::new(250, "2.1.0", "Ok"));
                if reply.is_positive() {
                    self.tx = Some(Tx {
                        env,
                        started: Instant::now(),
                        mail_refused: None,
                    });
                }
                self.relay(reply);
            }
            Err(e) => self.upstream_failed(e),
        }
    }

    async fn rcpt(&mut self, to: String) {
        let Some(tx) = &self.tx else {
            return self.error(Reply::new(
                503,
                "5.5.1",
                "Cần lệnh MAIL trước / Need MAIL command",
            ));
        };
        if tx.env.rcpts.len() >= self.rt.config.limits.max_recipients {
            // RFC 5321 4.5.3.1.10: 452 asks the client to send the rest in another transaction.
            return self.reply(Reply::new(
                452,
                "4.5.3",
                "Quá nhiều người nhận / Too many recipients",
            ));
        }
        if !tx.env.smtputf8 && !to.is_ascii() {
            return self.error(Reply::new(
                553,
                "5.6.7",
                "Địa chỉ UTF-8 cần SMTPUTF8 / UTF-8 address needs SMTPUTF8",
            ));
        }
        if let Some(refusal) = &tx.mail_refused {
            return self.reply(refusal.clone());
        }
        let verdict = self.rt.engine.rcpt(&self.conn, &tx.env, &to);
        if let Some(reply) = verdict.refusal() {
            self.count(&verdict);
            info!(conn = self.conn.id, client = %self.conn.client.addr, from = %tx.env.mail_from, rcpt = %to,
                  action = %verdict.action(), rules = ?verdict.rules(), reply = %reply, "recipient refused");
            return self.reply(reply);
        }
        let UpSlot::Ready(up, _) = &mut self.upstream else {
            return self.upstream_failed(UpstreamError::Protocol("no upstream session".into()));
        };
        let result = up.command(&format!("RCPT TO:<{to}>"), "RCPT").await;
        let mail_refused = up.take_mail_refusal();
        if let (Some(refusal), Some(tx)) = (mail_refused, &mut self.tx) {
            tx.mail_refused = Some(refusal.clone());
            return self.relay(refusal);
        }
        match result {
            Ok(reply) => {
                if reply.is_positive() {
                    if let Some(tx) = &mut self.tx {
                        tx.env.rcpts.push(to);
                    }
                }
                self.relay(reply);
            }
            Err(e) => self.upstream_failed(e),
        }
    }

    /// Why message content (DATA or BDAT) cannot start now, if it cannot.
    fn no_content_yet(&self) -> Option<Reply> {
        match &self.tx {
            None => Some(Reply::new(
                503,
                "5.5.1",
                "Cần lệnh MAIL trước / Need MAIL command",
            )),
            // RFC 2920 3.1: with pipelining, DATA after only refused recipients gets 554.
            Some(tx) if tx.env.rcpts.is_empty() => Some(Reply::new(
                554,
                "5.5.1",
                "Không có người nhận hợp lệ / No valid recipients",
            )),
            Some(_) => None,
        }
    }

    async fn data(&mut self) -> Option<End> {
        let refusal = self.no_content_yet().or_else(|| {
            self.bdat
                .is_some()
                .then(|| Reply::new(503, "5.5.1", "Đang nhận BDAT / DATA after BDAT"))
        });
        if let Some(reply) = refusal {
            self.error(reply);
            // Content already sent behind a refused DATA (RFC 2920 3.1 says to wait for the
            // 354) would otherwise be read as commands, line after line.
            if !self.rbuf.is_empty() {
                return Some(self.desync());
            }
            return None;
        }
        self.reply(Reply::plain(
            354,
            vec!["End data with <CR><LF>.<CR><LF>".into()],
        ));
        let limits = self.data_limits();
        let received = match self.receive_data(DataDecoder::new(limits)).await {
            Ok(r) => r,
            Err(end) => {
                // The client vanished or timed out mid-DATA: nothing was sent upstream, so
                // nothing is delivered. The upstream transaction is abandoned with RSET.
                self.abort_tx().await;
                return Some(end);
            }
        };
        self.finish_message(received).await;
        None
    }

    /// One BDAT chunk: exactly `size` octets are read whatever happens, so the stream stays in
    /// step with the client; the last chunk ends the message like the end of DATA.
    async fn bdat(&mut self, size: u64, last: bool) -> Option<End> {
        let refusal = self.no_content_yet();
        if refusal.is_none() && self.bdat.is_none() {
            self.spool.clear();
            self.bdat = Some(DataDecoder::new_raw(self.data_limits()));
        }
        let mut left = size;
        let mut spool_error = None;
        let data_timeout = self.rt.config.limits.data_timeout.get();
        loop {
            let n = left.min(self.rbuf.len() as u64) as usize;
            let chunk = self.rbuf.split_to(n);
            left -= n as u64;
            if let (None, Some(decoder)) = (&refusal, &mut self.bdat) {
                let spool = &mut self.spool;
                let _ = decoder.feed(&chunk, &mut |b: &[u8]| -> Result<(), ()> {
                    if spool_error.is_none() {
                        if let Err(e) = spool.write(b) {
                            spool_error = Some(e);
                        }
                    }
                    Ok(())
                });
            }
            if left == 0 {
                break;
            }
            if let Err(end) = self.read_more(data_timeout).await {
                self.abort_tx().await;
                return Some(end);
            }
        }
        if let Some(reply) = refusal {
            self.error(reply);
            return None;
        }
        if let Some(e) = &spool_error {
            warn!(conn = self.conn.id, error = %e, "cannot spool message");
        }
        if !last {
            if spool_error.is_some() {
                self.abort_tx().await;
                self.reply(Reply::new(
                    451,
                    "4.3.0",
                    "Không lưu được thư, thử lại sau / Cannot store message, try again later",
                ));
            } else {
                self.reply(Reply::new(250, "2.0.0", format!("{size} octets received")));
            }
            return None;
        }
        let decoder = self.bdat.take()?;
        let received = Received {
            size: decoder.size(),
            faults: decoder.faults(),
            spool_failed: spool_error.is_some(),
        };
        self.finish_message(received).await;
        None
    }

    fn data_limits(&self) -> DataLimits {
        let limits = &self.rt.config.limits;
        DataLimits {
            // One byte more than allowed, so the size check sees that the limit was crossed.
            max_size: limits.message_size.bytes() + 1,
            max_line: limits.data_line_length,
            max_header: limits.header_size.bytes(),
        }
    }

    /// After the whole message arrived (DATA or the last BDAT): judge it, deliver or refuse
    /// it, log the transaction, and answer.
    async fn finish_message(&mut self, faults: Received) {
        let Some(mut tx) = self.tx.take() else {
            return;
        };
        // Everything after the end of DATA shares one deadline: a before-queue proxy in front of
        // us (Postfix's smtpd_proxy_timeout, 100 s) gives up on us after that.
        let deadline =
            tokio::time::Instant::now() + self.rt.config.limits.end_of_data_timeout.get();
        tx.env.size = faults.size;
        metrics()
            .bytes
            .with_label_values(&["in"])
            .inc_by(faults.size);
        if faults.spool_failed {
            self.rset_upstream().await;
            self.spool.clear();
            self.reply(Reply::new(
                451,
                "4.3.0",
                "Không lưu được thư, thử lại sau / Cannot store message, try again later",
            ));
            return;
        }
        let verdict = match self.protocol_findings(&faults) {
            Some(v) => v,
            None => {
                let checks = self.rt.engine.data(&self.conn, &tx.env, &self.spool);
                match tokio::time::timeout_at(deadline, checks).await {
                    Ok(v) => v,
                    Err(_) => Verdict::new(vec![Finding::new(
                        rule::CHECK_TIMEOUT,
                        Action::Tempfail,
                        Bilingual::new("Kiểm tra thư quá thời gian", "Checks took too long"),
                    )]),
                }
            }
        };
        let (reply, upstream_reply) = self.deliver(&tx, &verdict, deadline).await;
        self.count(&verdict);
        metrics()
            .transaction_seconds
            .with_label_values(&[&self.conn.listener])
            .observe(tx.started.elapsed().as_secs_f64());
        info!(
            conn = self.conn.id,
            listener = %self.conn.listener,
            client = %self.conn.client.addr,
            helo = self.conn.client.helo.as_deref().unwrap_or(""),
            from = %tx.env.mail_from,
            rcpts = ?tx.env.rcpts,
            size = tx.env.size,
            action = %verdict.action(),
            rules = ?verdict.rules(),
            reply = %reply,
            upstream = upstream_reply.as_deref().unwrap_or("-"),
            ms = tx.started.elapsed().as_millis() as u64,
            "transaction"
        );
        self.reply(reply);
        self.spool.clear();
    }

    /// Sends the judged message on, or refuses it; returns the client's reply and the
    /// upstream's, when there was one.
    async fn deliver(
        &mut self,
        tx: &Tx,
        verdict: &Verdict,
        deadline: tokio::time::Instant,
    ) -> (Reply, Option<String>) {
        let refusal = match verdict.action() {
            Action::Reject => {
                self.keep_rejected(tx, verdict);
                verdict.refusal()
            }
            Action::Tempfail => verdict.refusal(),
            Action::Quarantine => Some(
                match self
                    .rt
                    .quarantine
                    .put(&self.conn, &tx.env, verdict, &self.spool)
                {
                    Ok(id) => {
                        info!(conn = self.conn.id, id = %id, "quarantined");
                        Reply::new(250, "2.0.0", format!("Ok: held for review as {id}"))
                    }
                    Err(e) => {
                        warn!(conn = self.conn.id, error = %e, dir = %self.rt.quarantine.dir().display(), "cannot quarantine");
                        Reply::new(
                        451,
                        "4.3.0",
                        "Không lưu được vào khu cách ly, thử lại sau / Cannot quarantine, try again later",
                    )
                    }
                },
            ),
            Action::Accept | Action::Tag => None,
        };
        if let Some(reply) = refusal {
            self.rset_upstream().await;
            return (reply, None);
        }
        let headers = tag_headers(verdict, &self.rt.config.server.hostname);
        let UpSlot::Ready(up, _) = &mut self.upstream else {
            return (
                UpstreamError::Protocol("no upstream session".into()).client_reply(),
                None,
            );
        };
        let sent = tokio::time::timeout_at(deadline, up.send_message(&headers, &self.spool))
            .await
            .unwrap_or(Err(UpstreamError::Timeout("the end-of-data deadline")));
        match sent {
            Ok((reply, sent)) => {
                metrics().bytes.with_label_values(&["out"]).inc_by(sent);
                let shown = reply.one_line();
                if reply.code == 421 {
                    self.drop_upstream();
                    return (Reply::new(451, "4.4.2", reply.lines.join(" ")), Some(shown));
                }
                (reply, Some(shown))
            }
            Err(e) => {
                self.count_upstream_error(&e);
                warn!(conn = self.conn.id, error = %e, "upstream failed during DATA");
                self.drop_upstream();
                (e.client_reply(), Some(e.to_string()))
            }
        }
    }

    /// A copy of a rejected message for the admin, when its rule is in
    /// `quarantine.keep_rejected`. The client's answer does not depend on it.
    fn keep_rejected(&self, tx: &Tx, verdict: &Verdict) {
        let keep = &self.rt.config.quarantine.keep_rejected;
        if !verdict.rules().iter().any(|r| keep.iter().any(|k| k == r)) {
            return;
        }
        match self
            .rt
            .quarantine
            .put(&self.conn, &tx.env, verdict, &self.spool)
        {
            Ok(id) => info!(conn = self.conn.id, id = %id, "rejected message kept in quarantine"),
            Err(e) => {
                warn!(conn = self.conn.id, error = %e, "cannot keep a copy of the rejected message")
            }
        }
    }

    /// Limits the DATA decoder counted, as findings: they decide before any check runs.
    fn protocol_findings(&self, f: &Received) -> Option<Verdict> {
        let mut findings = Vec::new();
        if f.faults.line_too_long {
            findings.push(
                Finding::new(
                    rule::LINE_LENGTH,
                    Action::Reject,
                    Bilingual::new(
                        format!(
                            "Dòng dài quá {} byte",
                            self.rt.config.limits.data_line_length
                        ),
                        format!(
                            "Line longer than {} bytes",
                            self.rt.config.limits.data_line_length
                        ),
                    ),
                )
                .with_code(550, "5.6.0"),
            );
        }
        if f.faults.header_too_big {
            findings.push(
                Finding::new(
                    rule::HEADER_SIZE,
                    Action::Reject,
                    Bilingual::new(
                        format!("Phần tiêu đề lớn quá {}", self.rt.config.limits.header_size),
                        format!(
                            "Header block larger than {}",
                            self.rt.config.limits.header_size
                        ),
                    ),
                )
                .with_code(552, "5.3.4"),
            );
        }
        if f.faults.bare_lf && self.rt.config.server.bare_lf == BareLf::Reject {
            findings.push(
                Finding::new(
                    rule::BARE_LF,
                    Action::Reject,
                    Bilingual::new(
                        "Thư có ký tự xuống dòng LF đơn lẻ",
                        "Message contains bare LF line endings (RFC 5321 2.3.8)",
                    ),
                )
                .with_code(550, "5.6.0"),
            );
        }
        (!findings.is_empty()).then(|| Verdict::new(findings))
    }

    /// Reads DATA into the spool until CRLF.CRLF.
    async fn receive_data(&mut self, mut decoder: DataDecoder) -> Result<Received, End> {
        let data_timeout = self.rt.config.limits.data_timeout.get();
        self.spool.clear();
        let mut spool_error = None;
        loop {
            let spool = &mut self.spool;
            let fed = decoder
                .feed(&self.rbuf, &mut |b: &[u8]| -> Result<(), ()> {
                    if spool_error.is_none() {
                        if let Err(e) = spool.write(b) {
                            spool_error = Some(e);
                        }
                    }
                    Ok(())
                })
                .unwrap_or(crate::smtp::data::Fed {
                    consumed: 0,
                    done: false,
                });
            let _ = self.rbuf.split_to(fed.consumed);
            if fed.done {
                break;
            }
            self.read_more(data_timeout).await?;
        }
        if let Some(e) = spool_error {
            warn!(conn = self.conn.id, error = %e, "cannot spool message");
            return Ok(Received {
                size: decoder.size(),
                faults: decoder.faults(),
                spool_failed: true,
            });
        }
        Ok(Received {
            size: decoder.size(),
            faults: decoder.faults(),
            spool_failed: false,
        })
    }

    /// The upstream, connected and told who the client is; or the upstream's own refusal of
    /// the client, which is the client's answer.
    async fn ready_upstream(&mut self) -> Result<Result<&mut Upstream, Reply>, UpstreamError> {
        // The session opened at connect (or kept from the last transaction) may have been
        // closed by the upstream since (its smtpd_timeout): then one new one is opened.
        for fresh in [false, true] {
            if let UpSlot::None = self.upstream {
                self.start_upstream();
            }
            if let UpSlot::Connecting(handle) = &mut self.upstream {
                let result = handle.await;
                self.upstream = UpSlot::None;
                let up = result
                    .map_err(|e| UpstreamError::Protocol(format!("upstream task failed: {e}")))??;
                self.upstream = UpSlot::Ready(Box::new(up), false);
            }
            if let UpSlot::Ready(up, _) = &mut self.upstream {
                if fresh || up.is_alive().await {
                    break;
                }
                debug!(
                    conn = self.conn.id,
                    "idle upstream session closed by the upstream; reconnecting"
                );
                self.upstream = UpSlot::None;
            }
        }
        self.settle_reverse_name().await;
        let identity = self.identity();
        let pass = self
            .rt
            .config
            .listeners
            .iter()
            .any(|l| l.name == *self.conn.listener && l.upstream.pass_client);
        let UpSlot::Ready(up, named) = &mut self.upstream else {
            return Err(UpstreamError::Protocol("no upstream session".into()));
        };
        if !*named && pass {
            if let Some(refusal) = up.pass_client(&identity).await? {
                return Ok(Err(refusal));
            }
        }
        *named = true;
        Ok(Ok(up))
    }

    /// Waits for the reverse lookup started at connect (it is bounded by its own timeout).
    async fn settle_reverse_name(&mut self) {
        let Some(task) = self.name_lookup.take() else {
            return;
        };
        match task.await.unwrap_or(ReverseName::TempFail) {
            ReverseName::Verified(name) => self.conn.client.name = Some(name),
            ReverseName::Unknown => {}
            ReverseName::TempFail => self.name_tempfail = true,
        }
    }

    fn identity(&self) -> ClientIdentity {
        ClientIdentity {
            addr: self.conn.client.addr,
            name: self.conn.client.name.clone(),
            helo: self.conn.client.helo.clone(),
            login: self.conn.client.login.clone(),
            esmtp: self.esmtp,
            tls: self.conn.tls,
            name_tempfail: self.name_tempfail,
        }
    }

    /// Connects to the upstream in the background while the client says EHLO, so the first
    /// MAIL FROM does not pay for the upstream's greeting and EHLO.
    fn start_upstream(&mut self) {
        let settings = self.listener().upstream.clone();
        self.upstream = UpSlot::Connecting(tokio::spawn(Upstream::connect(settings)));
    }

    fn upstream_failed(&mut self, e: UpstreamError) {
        self.count_upstream_error(&e);
        warn!(conn = self.conn.id, client = %self.conn.client.addr, error = %e, "upstream failed");
        self.drop_upstream();
        self.tx = None;
        self.reply(e.client_reply());
    }

    fn count_upstream_error(&self, e: &UpstreamError) {
        metrics()
            .upstream_errors
            .with_label_values(&[&self.conn.listener, e.kind()])
            .inc();
    }

    /// Forgets the upstream session (closing it, or cancelling its connection); the next
    /// MAIL FROM opens a new one.
    fn drop_upstream(&mut self) {
        if let UpSlot::Connecting(h) = std::mem::replace(&mut self.upstream, UpSlot::None) {
            h.abort();
        }
    }

    /// Ends the transaction on both legs.
    async fn abort_tx(&mut self) {
        self.bdat = None;
        if self.tx.take().is_some() {
            self.rset_upstream().await;
        }
        self.spool.clear();
    }

    async fn rset_upstream(&mut self) {
        if let UpSlot::Ready(up, _) = &mut self.upstream {
            match up.command("RSET", "RSET").await {
                Ok(r) if r.is_positive() => {}
                Ok(_) | Err(_) => self.drop_upstream(),
            }
        }
    }

    fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// The next command line, flushing pending replies before waiting (RFC 2920 3.2).
    async fn next_line(&mut self) -> Result<Input, End> {
        let max = self.rt.config.limits.command_line_length;
        let mut discarding = false;
        // Whether the line came in after our last reply went out, or was already waiting.
        let mut read_since_reply = false;
        loop {
            if let Some(i) = memchr(b'\n', &self.rbuf) {
                let mut line = self.rbuf.split_to(i + 1).to_vec();
                if discarding || line.len() > max {
                    return Ok(Input::TooLong);
                }
                line.truncate(i);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                // RFC 2920 3.1: only a client that saw PIPELINING in our EHLO reply may send a
                // command before the previous reply; EHLO itself ends a group. Anything else
                // is a bot or a desynchronised stream (Postfix: smtpd_forbid_unauth_pipelining).
                // QUIT right behind the end of DATA is common and harmless.
                if !read_since_reply && !self.pipelining_ok && !line.eq_ignore_ascii_case(b"QUIT") {
                    return Err(self.desync());
                }
                return Ok(Input::Line(line));
            }
            if self.rbuf.len() > max {
                // Swallow the oversized line so the stream stays in step with the client.
                discarding = true;
                self.rbuf.clear();
            }
            match self.phase() {
                Phase::Stop => return Err(self.shutdown_reply()),
                Phase::Draining if self.tx.is_none() => return Err(self.shutdown_reply()),
                _ => {}
            }
            self.read_more(self.rt.config.limits.command_timeout.get())
                .await?;
            read_since_reply = true;
        }
    }

    fn desync(&mut self) -> End {
        self.reply(Reply::new(
            554,
            "5.5.0",
            "Lỗi đồng bộ giao thức SMTP / SMTP protocol synchronization error (improper command pipelining)",
        ));
        End::Desync
    }

    fn shutdown_reply(&mut self) -> End {
        self.reply(Reply::new(
            421,
            "4.3.2",
            "Máy chủ đang dừng / Service shutting down",
        ));
        End::Shutdown
    }

    /// Flushes replies, then reads more client bytes, watching the clock and the shutdown.
    async fn read_more(&mut self, wait: Duration) -> Result<(), End> {
        self.flush().await.map_err(End::Io)?;
        // Room for a large read: message bodies arrive in big segments, and a nearly full
        // buffer would otherwise be refilled a few bytes at a time.
        self.rbuf.reserve(READ_CHUNK);
        // One timer per session, moved forward on every wait: moving it later is free, where a
        // new timer per read woke the runtime's driver (a system call, a spurious wake-up).
        self.idle.as_mut().reset(tokio::time::Instant::now() + wait);
        loop {
            let mut phase = self.phase.clone();
            tokio::select! {
                r = self.io.read_buf(&mut self.rbuf) => {
                    // Bytes read after our EHLO reply went out may pipeline (RFC 2920).
                    self.pipelining_ok = self.esmtp;
                    return match r {
                        Ok(0) => Err(End::ClientGone),
                        Ok(_) => Ok(()),
                        Err(e) => Err(End::Io(e)),
                    };
                }
                _ = self.idle.as_mut() => {
                    self.reply(Reply::new(421, "4.4.2", "Hết thời gian chờ / Timeout, closing connection"));
                    return Err(End::Timeout);
                }
                changed = phase.changed() => {
                    let now = *phase.borrow();
                    if changed.is_err() || now == Phase::Stop || (now == Phase::Draining && self.tx.is_none()) {
                        return Err(self.shutdown_reply());
                    }
                    // Draining with a transaction open: keep reading; watch for Stop only.
                    self.phase = phase;
                }
            }
        }
    }

    fn reply(&mut self, reply: Reply) {
        self.wbuf.extend_from_slice(reply.to_wire().as_bytes());
    }

    /// A reply to a command the client got wrong; counts towards `max_bad_commands`.
    fn error(&mut self, reply: Reply) {
        self.bad += 1;
        self.reply(reply);
    }

    /// Passes an upstream reply to the client unchanged, except that a 421 (the upstream is
    /// closing) becomes a 451 for this command: the client's session with us goes on.
    fn relay(&mut self, reply: Reply) {
        if reply.code == 421 {
            self.drop_upstream();
            self.tx = None;
            return self.reply(Reply::new(451, "4.4.2", reply.lines.join(" ")));
        }
        self.reply(reply);
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        self.io.write_all(&self.wbuf).await?;
        self.io.flush().await?;
        self.wbuf.clear();
        Ok(())
    }

    fn count(&self, verdict: &Verdict) {
        let rule = verdict
            .decisive()
            .map(|f| f.rule.as_ref())
            .unwrap_or("none");
        metrics()
            .transactions
            .with_label_values(&[&self.conn.listener, verdict.action().as_str(), rule])
            .inc();
    }
}

/// What DATA left us with.
struct Received {
    size: u64,
    faults: super::data::DataFaults,
    spool_failed: bool,
}

/// Headers added to a message: only for `tag`, naming what was found.
fn tag_headers(verdict: &Verdict, host: &str) -> Vec<u8> {
    if verdict.action() != Action::Tag {
        return Vec::new();
    }
    let rules = verdict.rules().join(", ");
    let mut h = format!("X-Locthu-Action: tag ({host})\r\nX-Locthu-Rules: {rules}\r\n");
    if verdict.rules().contains(&rule::UNSCANNED) {
        let (name, value) = crate::checks::antivirus::UNSCANNED_HEADER;
        h.push_str(&format!("{name}: {value}\r\n"));
    }
    h.into_bytes()
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
