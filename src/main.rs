//! `locthu`: serve, check-config, scan.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use tracing::{error, info};

use locthu::config::LogFormat;
use locthu::server::{self, Gateway, Overrides, Workers};
use locthu::services::Services;

#[derive(Parser)]
#[command(
    name = "locthu",
    version,
    about = "Inline SMTP filtering gateway for official mail (lọc thư)"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the gateway (on the embedded default config when --config is not given).
    Serve {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Address of the first listener, overriding the config.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// host:port of the first listener's upstream MTA, overriding the config.
        #[arg(long)]
        upstream: Option<String>,
    },
    /// Validate a config file; print every error with file and line; exit non-zero on error.
    CheckConfig {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Judge stored messages as the gateway would, stage by stage (connect, HELO, MAIL, each
    /// RCPT, content); one JSON line per file.
    Scan {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, default_value = "")]
        mail_from: String,
        #[arg(long = "rcpt")]
        rcpts: Vec<String>,
        /// The client's address: inside trusted_networks makes the message outbound.
        #[arg(long, default_value = "192.0.2.1")]
        client_ip: std::net::IpAddr,
        /// The name the client gives in EHLO.
        #[arg(long, default_value = "client.example")]
        helo: String,
        /// The listener the message arrives on (its role applies); default: the first.
        #[arg(long)]
        listener: Option<String>,
        /// Overrides the listener's role: inbound, outbound or submission.
        #[arg(long, value_parser = parse_role)]
        role: Option<locthu::engine::Role>,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Anti-spam data: teach the Bayesian classifier.
    Spam {
        #[command(subcommand)]
        op: SpamOp,
    },
    /// Manage quarantined messages.
    Quarantine {
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        op: QuarantineOp,
    },
    /// DKIM signing keys.
    Dkim {
        #[command(subcommand)]
        op: DkimOp,
    },
}

#[derive(Subcommand)]
enum DkimOp {
    /// Make a signing key for DOMAIN, write it (mode 0600) and print the DNS TXT record to
    /// publish at SELECTOR._domainkey.DOMAIN; then add it to [[dkim.keys]].
    Keygen {
        domain: String,
        selector: String,
        /// Where to write the PEM key; default: DOMAIN.SELECTOR.pem here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// rsa (what every receiver verifies) or ed25519 (RFC 8463).
        #[arg(long, default_value = "rsa")]
        algorithm: String,
        /// RSA key size.
        #[arg(long, default_value_t = 2048)]
        bits: usize,
    },
}

#[derive(Subcommand)]
enum SpamOp {
    /// Learn messages as spam or ham: files, maildirs (cur/ and new/), mbox files, and
    /// directories of message files. A message learnt before as the same class is not counted
    /// again; one learnt as the other class is moved.
    Learn {
        #[arg(short = 'c', long)]
        config: Option<PathBuf>,
        #[arg(long, num_args = 1.., value_name = "PATH")]
        spam: Vec<PathBuf>,
        #[arg(long, num_args = 1.., value_name = "PATH")]
        ham: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum QuarantineOp {
    /// One line per message: id, time, client, sender, recipients, rules.
    List,
    /// The metadata (JSON) and the message.
    Show { id: String },
    /// Deliver to the upstream with the original envelope, then remove from quarantine.
    Release { id: String },
    /// Remove without delivering.
    Delete { id: String },
    /// Remove messages older than quarantine.retention_days.
    Purge,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Dkim {
            op:
                DkimOp::Keygen {
                    domain,
                    selector,
                    out,
                    algorithm,
                    bits,
                },
        } => {
            use locthu::auth::keygen::{keygen, KeyKind};
            let kind = match algorithm.as_str() {
                "rsa" => KeyKind::Rsa { bits },
                "ed25519" => KeyKind::Ed25519,
                other => {
                    eprintln!("--algorithm {other}: rsa or ed25519");
                    return ExitCode::from(2);
                }
            };
            let out = out.unwrap_or_else(|| PathBuf::from(format!("{domain}.{selector}.pem")));
            match keygen(&domain, &selector, kind, &out) {
                Ok(record) => {
                    eprintln!("private key written to {}", out.display());
                    println!("{record}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("locthu dkim keygen: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Cmd::CheckConfig { config } => {
            match server::load_runtime(
                config.as_deref(),
                &Overrides::default(),
                &Services::default(),
            ) {
                Ok(rt) => {
                    println!(
                        "{}: ok ({} listener(s), checks: {})",
                        rt.source,
                        rt.config.listeners.len(),
                        rt.engine.check_names().join(", ")
                    );
                    ExitCode::SUCCESS
                }
                Err(errors) => {
                    eprintln!("{errors}");
                    ExitCode::from(2)
                }
            }
        }
        Cmd::Serve {
            config,
            listen,
            upstream,
        } => {
            let overrides = Overrides { listen, upstream };
            let services = Services::new();
            let rt = match server::load_runtime(config.as_deref(), &overrides, &services) {
                Ok(rt) => rt,
                Err(errors) => {
                    eprintln!("{errors}");
                    return ExitCode::from(2);
                }
            };
            init_logging(rt.config.log.format, &rt.config.log.level);
            // The acceptor, admin listener and signals are light: one thread does them, and
            // sessions run on the workers (see server::Workers).
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            runtime.block_on(serve(rt, config, overrides, services))
        }
        Cmd::Quarantine { config, op } => {
            let rt = match server::load_runtime(
                config.as_deref(),
                &Overrides::default(),
                &Services::default(),
            ) {
                Ok(rt) => rt,
                Err(errors) => {
                    eprintln!("{errors}");
                    return ExitCode::from(2);
                }
            };
            quarantine(&rt, op)
        }
        Cmd::Spam {
            op: SpamOp::Learn { config, spam, ham },
        } => spam_learn(config, &spam, &ham),
        Cmd::Scan {
            config,
            mail_from,
            rcpts,
            client_ip,
            helo,
            listener,
            role,
            files,
        } => {
            let rt = match server::load_runtime(
                config.as_deref(),
                &Overrides::default(),
                &Services::default(),
            ) {
                Ok(rt) => rt,
                Err(errors) => {
                    eprintln!("{errors}");
                    return ExitCode::from(2);
                }
            };
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let scan = locthu::scan::Scan {
                mail_from,
                rcpts,
                client_ip,
                helo,
                listener,
                role,
            };
            runtime.block_on(scan.run(&rt, &files))
        }
    }
}

fn spam_learn(config: Option<PathBuf>, spam: &[PathBuf], ham: &[PathBuf]) -> ExitCode {
    use locthu::spam::bayes::learn;
    if spam.is_empty() && ham.is_empty() {
        eprintln!("nothing to learn: give --spam PATH… and/or --ham PATH…");
        return ExitCode::from(2);
    }
    let loaded = match locthu::config::load(config.as_deref()) {
        Ok(l) => l,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(2);
        }
    };
    let cfg = &loaded.config;
    let problems = cfg.spam.validate();
    if !problems.is_empty() {
        eprintln!("{}", problems.join("\n"));
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let db = match learn::open(cfg, &loaded.source.base_dir()) {
            Ok(db) => db,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
        let limits = locthu::inspect::Limits::default();
        let result = learn::learn_paths(&db, &cfg.spam.bayes, &limits, spam, ham).await;
        let totals = db.totals().await;
        db.close().await;
        match result {
            Ok(r) => {
                for s in &r.skipped {
                    eprintln!("skipped {s}");
                }
                let secs = r.elapsed.as_secs_f64();
                println!(
                    "learnt {} spam, {} ham; {} learnt before, {} moved to the other class; {} skipped; {} messages in {:.2} s ({:.0} messages/s)",
                    r.learnt_spam,
                    r.learnt_ham,
                    r.already,
                    r.relearnt,
                    r.skipped.len(),
                    r.messages(),
                    secs,
                    r.messages() as f64 / secs.max(1e-9)
                );
                match totals {
                    Ok(t) => println!("totals: {} spam, {} ham", t.spam, t.ham),
                    Err(e) => eprintln!("cannot read the totals: {e}"),
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        }
    })
}

fn parse_role(s: &str) -> Result<locthu::engine::Role, String> {
    use locthu::engine::Role;
    match s {
        "inbound" => Ok(Role::Inbound),
        "outbound" => Ok(Role::Outbound),
        "submission" => Ok(Role::Submission),
        _ => Err(format!("`{s}`: use inbound, outbound or submission")),
    }
}

async fn serve(
    rt: locthu::runtime::Runtime,
    config: Option<PathBuf>,
    overrides: Overrides,
    services: Arc<Services>,
) -> ExitCode {
    if config.is_none() {
        info!("no --config given: running on the embedded default config (see config/locthu.toml)");
    }
    // Signal handlers first: until they exist, SIGHUP or SIGTERM would kill the process with
    // every session in it, and the listeners below already accept connections.
    use tokio::signal::unix::{signal, SignalKind};
    let (hup, term, int) = match (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(h), Ok(t), Ok(i)) => (h, t, i),
        _ => {
            error!("cannot install signal handlers");
            return ExitCode::FAILURE;
        }
    };
    let mut bound = Vec::new();
    for l in &rt.config.listeners {
        match TcpListener::bind(l.address).await {
            Ok(sock) => {
                info!(listener = %l.name, address = %l.address, role = l.role.as_str(), upstream = %l.upstream.address, "listening");
                bound.push((l.name.clone(), sock));
            }
            Err(e) => {
                error!(listener = %l.name, address = %l.address, error = %e, "cannot listen");
                return ExitCode::FAILURE;
            }
        }
    }
    let admin = rt.config.admin.listen.clone();
    info!(checks = ?rt.engine.check_names(), "engine ready");
    for w in &rt.warnings {
        tracing::warn!("{w}");
    }
    let workers = match Workers::start(rt.config.server.workers) {
        Ok(w) => w,
        Err(e) => {
            error!(error = %e, "cannot start worker threads");
            return ExitCode::FAILURE;
        }
    };
    let gateway = Gateway::new(rt, workers, config, overrides, services);
    if !admin.is_empty() {
        match TcpListener::bind(&admin).await {
            Ok(sock) => {
                info!(address = %admin, "admin listener: /metrics /healthz /readyz");
                tokio::spawn(locthu::admin::serve(sock, gateway.clone()));
            }
            Err(e) => {
                error!(address = %admin, error = %e, "cannot listen for admin");
                return ExitCode::FAILURE;
            }
        }
    }
    tokio::spawn(reload_on_sighup(gateway.clone(), hup));
    gateway.run(bound, terminate(term, int)).await;
    ExitCode::SUCCESS
}

async fn reload_on_sighup(gateway: Arc<Gateway>, mut hup: tokio::signal::unix::Signal) {
    while hup.recv().await.is_some() {
        info!("SIGHUP: reloading config");
        let _ = gateway.reload();
    }
}

async fn terminate(mut term: tokio::signal::unix::Signal, mut int: tokio::signal::unix::Signal) {
    tokio::select! {
        _ = term.recv() => info!("SIGTERM"),
        _ = int.recv() => info!("SIGINT"),
    }
}

fn init_logging(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Colour only for a person at a terminal; journald and log files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn quarantine(rt: &locthu::runtime::Runtime, op: QuarantineOp) -> ExitCode {
    let store = &rt.quarantine;
    let result: Result<(), String> = match op {
        QuarantineOp::List => store.list().map_err(|e| e.to_string()).map(|entries| {
            for e in entries {
                println!(
                    "{}\t{}\t{}\t<{}>\t{}\t{}",
                    e.id,
                    e.time,
                    e.client,
                    e.mail_from,
                    e.rcpts.join(","),
                    e.rules.join(",")
                );
            }
        }),
        QuarantineOp::Show { id } => {
            store
                .get(&id)
                .map_err(|e| format!("{id}: {e}"))
                .map(|(entry, message)| {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&entry).unwrap_or_default()
                    );
                    println!();
                    print!("{}", String::from_utf8_lossy(&message));
                })
        }
        QuarantineOp::Delete { id } => store.delete(&id).map_err(|e| format!("{id}: {e}")),
        QuarantineOp::Purge => {
            let age = std::time::Duration::from_secs(
                u64::from(rt.config.quarantine.retention_days) * 86400,
            );
            store
                .purge(age)
                .map_err(|e| e.to_string())
                .map(|n| println!("purged {n}"))
        }
        QuarantineOp::Release { id } => match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(r) => r
                .block_on(locthu::quarantine::release(rt, &id))
                .map(|reply| println!("released {id}: {reply}")),
            Err(e) => Err(e.to_string()),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
