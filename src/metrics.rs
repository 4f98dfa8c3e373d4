//! Prometheus metrics, registered once per process. Label values are bounded sets (listener
//! names, actions, rule names, stages), never addresses or message ids.

use std::sync::OnceLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Every metric locthu exports.
pub struct Metrics {
    pub registry: Registry,
    pub connections_total: IntCounterVec,
    pub connections_active: IntGaugeVec,
    pub connections_refused: IntCounterVec,
    /// Sessions we ended because the client was too slow: `timeout` (a command line or DATA
    /// record past its deadline), `write_timeout` (our replies unread), `evicted` (idle longest
    /// when the connection limit was reached).
    pub connections_cut: IntCounterVec,
    pub transactions: IntCounterVec,
    pub bytes: IntCounterVec,
    pub upstream_errors: IntCounterVec,
    pub stage_seconds: HistogramVec,
    pub transaction_seconds: HistogramVec,
    pub config_reloads: IntCounterVec,
    /// Virus scans by result: `clean`, `virus`, `unscannable` (too large, or clamd's limits
    /// hit), `tempfail` and `unscanned` (clamd failed, on_error = tempfail / accept).
    pub clamd_scans: IntCounterVec,
    pub clamd_scan_seconds: Histogram,
    /// Failures per configured endpoint and kind (connect, timeout, io, protocol, clamd,
    /// size_limit, ...): both label sets are bounded by the config and the code.
    pub clamd_errors: IntCounterVec,
    /// 1 while the endpoint answers PING, per configured endpoint.
    pub clamd_endpoint_up: IntGaugeVec,
    /// Viruses found. No name label: signature names are an open set (millions in the official
    /// databases) chosen by whoever sends the mail; names go to the log and the audit line.
    pub viruses: IntCounter,
    /// Time of each DNS blocklist query that went to the resolver (cache misses), per list kind
    /// (`dnsbl`, `uribl`) and zone: zones come from config, so the labels are bounded.
    pub dnsbl_lookup_seconds: HistogramVec,
    /// Blocklist answers that decided nothing, per kind, zone and failure (`timeout`,
    /// `servfail`, `refused`, `error`, `error_code`: an answer the zone documents as "query
    /// refused" or "error", `bogus`: an answer outside 127.0.0.0/8).
    pub dnsbl_failures: IntCounterVec,
    /// Blocklist answers found in the check's cache (`hit`) or asked for (`miss`), per kind.
    pub dnsbl_cache: IntCounterVec,
    /// Authentication results of inbound mail by method (spf, dkim, arc, dmarc,
    /// forged_internal) and result (pass, fail, softfail, none, temperror, …): both bounded.
    pub auth_results: IntCounterVec,
    /// Outbound DKIM signing: `signed` or `error`.
    pub dkim_signed: IntCounterVec,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 100.0,
];

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let m = Metrics {
            connections_total: IntCounterVec::new(
                Opts::new("locthu_connections_total", "Client connections accepted"),
                &["listener"],
            )
            .expect("metric"),
            connections_active: IntGaugeVec::new(
                Opts::new("locthu_connections_active", "Client connections open now"),
                &["listener"],
            )
            .expect("metric"),
            connections_refused: IntCounterVec::new(
                Opts::new(
                    "locthu_connections_refused_total",
                    "Client connections refused by a limit",
                ),
                &["listener", "reason"],
            )
            .expect("metric"),
            connections_cut: IntCounterVec::new(
                Opts::new(
                    "locthu_connections_cut_total",
                    "Client sessions closed by locthu for being too slow or idle at the limit",
                ),
                &["listener", "reason"],
            )
            .expect("metric"),
            transactions: IntCounterVec::new(
                Opts::new(
                    "locthu_transactions_total",
                    "Transactions (and refused recipients) by action and deciding rule",
                ),
                &["listener", "action", "rule"],
            )
            .expect("metric"),
            bytes: IntCounterVec::new(
                Opts::new(
                    "locthu_bytes_total",
                    "Message bytes received from clients (in) and sent upstream (out)",
                ),
                &["direction"],
            )
            .expect("metric"),
            upstream_errors: IntCounterVec::new(
                Opts::new(
                    "locthu_upstream_errors_total",
                    "Failures talking to the upstream MTA",
                ),
                &["listener", "kind"],
            )
            .expect("metric"),
            stage_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "locthu_stage_duration_seconds",
                    "Time the checks took per SMTP stage",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["stage"],
            )
            .expect("metric"),
            transaction_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "locthu_transaction_duration_seconds",
                    "Time from MAIL FROM to the final reply",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["listener"],
            )
            .expect("metric"),
            config_reloads: IntCounterVec::new(
                Opts::new("locthu_config_reloads_total", "Config reloads by outcome"),
                &["outcome"],
            )
            .expect("metric"),
            clamd_scans: IntCounterVec::new(
                Opts::new("locthu_clamd_scans_total", "Virus scans by result"),
                &["result"],
            )
            .expect("metric"),
            clamd_scan_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "locthu_clamd_scan_seconds",
                    "Time a virus scan took, retries on other endpoints included",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
            )
            .expect("metric"),
            clamd_errors: IntCounterVec::new(
                Opts::new(
                    "locthu_clamd_errors_total",
                    "Failures talking to clamd, per configured endpoint",
                ),
                &["endpoint", "kind"],
            )
            .expect("metric"),
            clamd_endpoint_up: IntGaugeVec::new(
                Opts::new(
                    "locthu_clamd_endpoint_up",
                    "1 while the clamd endpoint answers, 0 while it is skipped",
                ),
                &["endpoint"],
            )
            .expect("metric"),
            viruses: IntCounter::new("locthu_viruses_total", "Viruses found").expect("metric"),
            dnsbl_lookup_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "locthu_dnsbl_lookup_seconds",
                    "Time a DNS or URI blocklist query took, per configured zone",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["list", "zone"],
            )
            .expect("metric"),
            dnsbl_failures: IntCounterVec::new(
                Opts::new(
                    "locthu_dnsbl_failures_total",
                    "Blocklist lookups that decided nothing (timeouts, errors, refusal codes)",
                ),
                &["list", "zone", "kind"],
            )
            .expect("metric"),
            dnsbl_cache: IntCounterVec::new(
                Opts::new(
                    "locthu_dnsbl_cache_total",
                    "Blocklist answers from the cache (hit) or the resolver (miss)",
                ),
                &["list", "result"],
            )
            .expect("metric"),
            auth_results: IntCounterVec::new(
                Opts::new(
                    "locthu_auth_results_total",
                    "SPF, DKIM, ARC and DMARC results of inbound mail",
                ),
                &["method", "result"],
            )
            .expect("metric"),
            dkim_signed: IntCounterVec::new(
                Opts::new("locthu_dkim_signed_total", "Outbound DKIM signing"),
                &["result"],
            )
            .expect("metric"),
            registry,
        };
        for c in [
            Box::new(m.connections_total.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.connections_active.clone()),
            Box::new(m.connections_refused.clone()),
            Box::new(m.connections_cut.clone()),
            Box::new(m.transactions.clone()),
            Box::new(m.bytes.clone()),
            Box::new(m.upstream_errors.clone()),
            Box::new(m.stage_seconds.clone()),
            Box::new(m.transaction_seconds.clone()),
            Box::new(m.config_reloads.clone()),
            Box::new(m.clamd_scans.clone()),
            Box::new(m.clamd_scan_seconds.clone()),
            Box::new(m.clamd_errors.clone()),
            Box::new(m.clamd_endpoint_up.clone()),
            Box::new(m.viruses.clone()),
            Box::new(m.dnsbl_lookup_seconds.clone()),
            Box::new(m.dnsbl_failures.clone()),
            Box::new(m.dnsbl_cache.clone()),
            Box::new(m.auth_results.clone()),
            Box::new(m.dkim_signed.clone()),
        ] {
            m.registry.register(c).expect("unique metric names");
        }
        m
    }

    /// The registry in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding our own well-formed families into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}
