//! SMTP command lines (RFC 5321 4.1, with RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 6531 SMTPUTF8,
//! and Postfix's XCLIENT/XFORWARD). Pure parsing: bytes in, a command or a precise error out.

/// One parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Helo(String),
    Ehlo(String),
    Mail(MailFrom),
    Rcpt(RcptTo),
    Data,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Expn,
    Help,
    StartTls,
    Auth,
    /// RFC 3030 BDAT: a chunk of `size` octets follows the command line.
    Bdat {
        size: u64,
        last: bool,
    },
    /// XCLIENT or XFORWARD attributes, names uppercased, values xtext-decoded.
    Xclient(Vec<(String, String)>),
    Xforward(Vec<(String, String)>),
}

/// MAIL FROM with the parameters locthu understands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailFrom {
    /// Reverse path without brackets; empty for `<>`.
    pub from: String,
    pub size: Option<u64>,
    pub body: Option<Body>,
    pub smtputf8: bool,
}

/// RFC 6152 body types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    SevenBit,
    EightBitMime,
}

/// RCPT TO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcptTo {
    pub to: String,
}

/// Why a line is not a command we take; each maps to one reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// 500 5.5.2: not a command at all.
    Unknown,
    /// 501 5.5.4: the command's arguments are wrong; the text says how.
    Syntax(&'static str),
    /// 555 5.5.4: a MAIL/RCPT parameter we do not offer.
    Parameter(String),
    /// 553 5.6.7: a non-ASCII address without SMTPUTF8 (RFC 6531 3.4).
    NeedsSmtpUtf8,
}

/// Parses one command line, its CRLF (or bare LF) already removed.
pub fn parse(line: &[u8]) -> Result<Command, CommandError> {
    let line =
        std::str::from_utf8(line).map_err(|_| CommandError::Syntax("command line is not UTF-8"))?;
    if line.bytes().any(|b| b < 0x20 && b != b'\t') {
        return Err(CommandError::Syntax("control characters in command"));
    }
    let (verb, rest) = match line.find(' ') {
        Some(i) => (&line[..i], line[i + 1..].trim()),
        None => (line, ""),
    };
    let no_args = |cmd: Command| -> Result<Command, CommandError> {
        if rest.is_empty() {
            Ok(cmd)
        } else {
            Err(CommandError::Syntax("this command takes no arguments"))
        }
    };
    match verb.to_ascii_uppercase().as_str() {
        "HELO" => domain_arg(rest).map(Command::Helo),
        "EHLO" => domain_arg(rest).map(Command::Ehlo),
        "MAIL" => parse_mail(rest).map(Command::Mail),
        "RCPT" => parse_rcpt(rest).map(Command::Rcpt),
        "DATA" => no_args(Command::Data),
        "RSET" => no_args(Command::Rset),
        // RFC 5321 4.1.1.9: NOOP may carry a string, which is ignored.
        "NOOP" => Ok(Command::Noop),
        "QUIT" => no_args(Command::Quit),
        "VRFY" => Ok(Command::Vrfy),
        "EXPN" => Ok(Command::Expn),
        "HELP" => Ok(Command::Help),
        "STARTTLS" => no_args(Command::StartTls),
        "AUTH" => Ok(Command::Auth),
        "BDAT" => parse_bdat(rest),
        "XCLIENT" => attributes(rest).map(Command::Xclient),
        "XFORWARD" => attributes(rest).map(Command::Xforward),
        _ => Err(CommandError::Unknown),
    }
}

fn parse_bdat(rest: &str) -> Result<Command, CommandError> {
    let mut words = rest.split_whitespace();
    // RFC 3030 2: chunk-size is 1*DIGIT; Rust's parser would also take "+5".
    let size = words
        .next()
        .filter(|w| w.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|w| w.parse().ok())
        .ok_or(CommandError::Syntax("BDAT needs a chunk size"))?;
    let last = match words.next() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return Err(CommandError::Syntax("expected BDAT size [LAST]")),
    };
    if words.next().is_some() {
        return Err(CommandError::Syntax("expected BDAT size [LAST]"));
    }
    Ok(Command::Bdat { size, last })
}

fn domain_arg(rest: &str) -> Result<String, CommandError> {
    let name = rest.split_whitespace().next().unwrap_or("");
    if name.is_empty() {
        return Err(CommandError::Syntax(
            "a domain name or address literal is required",
        ));
    }
    if name.len() > 255 {
        return Err(CommandError::Syntax(
            "the name is longer than 255 characters",
        ));
    }
    Ok(name.to_string())
}

/// Splits `FROM:<path> params` (or `TO:`), tolerating a space after the colon as Postfix does.
fn path_and_params<'a>(rest: &'a str, keyword: &str) -> Result<(String, &'a str), CommandError> {
    let head = rest.get(..keyword.len()).unwrap_or("");
    if !head.eq_ignore_ascii_case(keyword) {
        return Err(CommandError::Syntax(if keyword == "FROM:" {
            "expected MAIL FROM:<address>"
        } else {
            "expected RCPT TO:<address>"
        }));
    }
    let rest = rest[keyword.len()..].trim_start();
    let (path, params) = bracketed_path(rest)?;
    Ok((path, params.trim()))
}

/// Reads `<...>` honouring quoted local parts, and strips an RFC 5321 source route.
fn bracketed_path(s: &str) -> Result<(String, &str), CommandError> {
    if !s.starts_with('<') {
        return Err(CommandError::Syntax(
            "the address must be in angle brackets",
        ));
    }
    let mut in_quotes = false;
    let mut escaped = false;
    let mut end = None;
    for (i, c) in s.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '>' if !in_quotes => {
                end = Some(i);
                break;
            }
            _ => {}
        }
    }
    let end = end.ok_or(CommandError::Syntax("unterminated address"))?;
    let mut path = &s[1..end];
    if path.starts_with('@') {
        // <@relay1,@relay2:user@domain>: RFC 5321 4.1.1.3 says to ignore the route.
        path = path.split_once(':').map(|(_, p)| p).unwrap_or("");
    }
    if path.len() > 256 {
        return Err(CommandError::Syntax(
            "the address is longer than 256 characters (RFC 5321 4.5.3.1.3)",
        ));
    }
    if !path.is_empty() && !path.contains('"') && path.contains(' ') {
        return Err(CommandError::Syntax("spaces in the address"));
    }
    Ok((path.to_string(), &s[end + 1..]))
}

fn parse_mail(rest: &str) -> Result<MailFrom, CommandError> {
    let (from, params) = path_and_params(rest, "FROM:")?;
    let mut mail = MailFrom {
        from,
        ..MailFrom::default()
    };
    for p in params.split_whitespace() {
        let (key, value) = p.split_once('=').unwrap_or((p, ""));
        match key.to_ascii_uppercase().as_str() {
            "SIZE" => {
                mail.size = Some(
                    value
                        .parse()
                        .map_err(|_| CommandError::Syntax("SIZE= needs a number"))?,
                )
            }
            "BODY" => {
                mail.body = Some(match value.to_ascii_uppercase().as_str() {
                    "7BIT" => Body::SevenBit,
                    "8BITMIME" => Body::EightBitMime,
                    _ => return Err(CommandError::Parameter(format!("BODY={value}"))),
                })
            }
            "SMTPUTF8" if value.is_empty() => mail.smtputf8 = true,
            _ => return Err(CommandError::Parameter(p.to_string())),
        }
    }
    if !mail.smtputf8 && !mail.from.is_ascii() {
        return Err(CommandError::NeedsSmtpUtf8);
    }
    if !mail.from.is_empty() && !mail.from.contains('@') {
        return Err(CommandError::Syntax("the sender address needs a domain"));
    }
    Ok(mail)
}

fn parse_rcpt(rest: &str) -> Result<RcptTo, CommandError> {
    let (to, params) = path_and_params(rest, "TO:")?;
    if let Some(p) = params.split_whitespace().next() {
        return Err(CommandError::Parameter(p.to_string()));
    }
    if to.is_empty() {
        return Err(CommandError::Syntax("the recipient address is empty"));
    }
    // RFC 5321 4.5.1: <postmaster> without a domain must be accepted.
    if !to.contains('@') && !to.eq_ignore_ascii_case("postmaster") {
        return Err(CommandError::Syntax("the recipient address needs a domain"));
    }
    Ok(RcptTo { to })
}

fn attributes(rest: &str) -> Result<Vec<(String, String)>, CommandError> {
    let mut out = Vec::new();
    for p in rest.split_whitespace() {
        let (k, v) = p
            .split_once('=')
            .ok_or(CommandError::Syntax("attributes are NAME=value"))?;
        out.push((k.to_ascii_uppercase(), xtext_decode(v)));
    }
    if out.is_empty() {
        return Err(CommandError::Syntax("no attributes"));
    }
    Ok(out)
}

/// RFC 3461 4: `+HH` stands for the byte 0xHH.
pub fn xtext_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'+' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// RFC 3461 4: bytes outside `!`..`~`, and `+` and `=`, become `+HH`.
pub fn xtext_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(line: &str) -> MailFrom {
        match parse(line.as_bytes()) {
            Ok(Command::Mail(m)) => m,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn mail_from_with_parameters() {
        let m = mail("MAIL FROM:<a@b.vn> SIZE=1000 BODY=8BITMIME");
        assert_eq!(
            (m.from.as_str(), m.size, m.body),
            ("a@b.vn", Some(1000), Some(Body::EightBitMime))
        );
        assert_eq!(mail("mail from: <>").from, "");
        assert_eq!(mail("MAIL FROM:<@r1,@r2:u@d.vn>").from, "u@d.vn");
        assert_eq!(mail("MAIL FROM:<\"a > b\"@d.vn>").from, "\"a > b\"@d.vn");
    }

    #[test]
    fn utf8_addresses_need_smtputf8() {
        assert_eq!(
            parse("MAIL FROM:<nguyễn@d.vn>".as_bytes()),
            Err(CommandError::NeedsSmtpUtf8)
        );
        assert!(mail("MAIL FROM:<nguyễn@d.vn> SMTPUTF8").smtputf8);
    }

    #[test]
    fn bad_arguments_are_precise() {
        assert!(matches!(
            parse(b"MAIL FROM:a@b"),
            Err(CommandError::Syntax(_))
        ));
        assert!(matches!(
            parse(b"MAIL FROM:<a@b> RET=HDRS"),
            Err(CommandError::Parameter(_))
        ));
        assert!(matches!(parse(b"RCPT TO:<>"), Err(CommandError::Syntax(_))));
        assert!(matches!(parse(b"FOO"), Err(CommandError::Unknown)));
        assert!(matches!(parse(b"DATA x"), Err(CommandError::Syntax(_))));
        assert!(matches!(parse(b"HELO"), Err(CommandError::Syntax(_))));
        assert_eq!(
            parse(b"BDAT 100 LAST"),
            Ok(Command::Bdat {
                size: 100,
                last: true
            })
        );
        assert!(matches!(parse(b"BDAT x"), Err(CommandError::Syntax(_))));
        assert!(matches!(parse(b"BDAT +5"), Err(CommandError::Syntax(_))));
        assert!(matches!(parse(b"BDAT -0"), Err(CommandError::Syntax(_))));
        assert_eq!(
            parse(b"RCPT TO:<Postmaster>"),
            Ok(Command::Rcpt(RcptTo {
                to: "Postmaster".into()
            }))
        );
    }

    #[test]
    fn xtext_round_trips() {
        let s = "mail.example [1.2.3.4]+=ồ";
        assert_eq!(xtext_decode(&xtext_encode(s)), s);
        assert_eq!(xtext_encode("a b"), "a+20b");
        assert_eq!(
            parse(b"XFORWARD ADDR=1.2.3.4 HELO=x+20y"),
            Ok(Command::Xforward(vec![
                ("ADDR".into(), "1.2.3.4".into()),
                ("HELO".into(), "x y".into())
            ]))
        );
    }
}
