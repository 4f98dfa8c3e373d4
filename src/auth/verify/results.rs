//! What the verification results become: one scoring symbol per method and result
//! (`crate::auth::symbols`), the finding a failed DMARC policy asks for (with `pct`), rule
//! `forged-internal`, and the counters of `locthu_auth_results_total`.

use mail_auth::dmarc::Policy;
use mail_auth::{
    ArcOutput, DkimOutput, DkimResult, DmarcOutput, DmarcResult, SpfOutput, SpfResult,
};

use super::Verify;
use crate::auth::align::{self, Claim, Evidence};
use crate::engine::{rule, Action, Bilingual, Finding};
use crate::metrics::metrics;

impl Verify {
    pub(super) fn spf_symbol(&self, o: &SpfOutput) -> Finding {
        let (name, vi, en) = match o.result() {
            SpfResult::Pass => ("SPF_PASS", "SPF hợp lệ", "SPF pass"),
            SpfResult::Fail => ("SPF_FAIL", "SPF không cho phép máy gửi", "SPF fail"),
            SpfResult::SoftFail => ("SPF_SOFTFAIL", "SPF nghi ngờ máy gửi", "SPF softfail"),
            SpfResult::Neutral => ("SPF_NEUTRAL", "SPF trung lập", "SPF neutral"),
            SpfResult::None => ("SPF_NONE", "Không có bản ghi SPF", "no SPF record"),
            SpfResult::TempError => (
                "SPF_TEMPERROR",
                "Lỗi DNS tạm thời khi kiểm SPF",
                "SPF DNS error",
            ),
            SpfResult::PermError => ("SPF_PERMERROR", "Bản ghi SPF sai", "SPF record broken"),
        };
        let d = o.domain();
        self.symbol(name, format!("{vi} ({d})"), format!("{en} ({d})"))
    }

    pub(super) fn dkim_symbols(&self, dkim: &[DkimOutput]) -> Vec<Finding> {
        let domains = |want: fn(&DkimResult) -> bool| -> Option<String> {
            let ds: Vec<&str> = dkim
                .iter()
                .filter(|o| want(o.result()))
                // Signatures past max_signatures (and unparsable ones) carry none: not scored.
                .filter_map(|o| o.signature().map(|s| s.d.as_str()))
                .collect();
            (!ds.is_empty()).then(|| ds.join(","))
        };
        for o in dkim {
            count("dkim", result_name(o.result()));
        }
        if dkim.is_empty() {
            count("dkim", "none");
            return vec![self.symbol(
                "DKIM_NONE",
                "Không có chữ ký DKIM".into(),
                "no DKIM signature".into(),
            )];
        }
        let mut out = Vec::new();
        if let Some(d) = domains(|r| r == &DkimResult::Pass) {
            out.push(self.symbol(
                "DKIM_VALID",
                format!("Chữ ký DKIM hợp lệ ({d})"),
                format!("valid DKIM signature ({d})"),
            ));
        }
        if let Some(d) = domains(|r| matches!(r, DkimResult::Fail(_) | DkimResult::Neutral(_))) {
            out.push(self.symbol(
                "DKIM_INVALID",
                format!("Chữ ký DKIM sai ({d})"),
                format!("invalid DKIM signature ({d})"),
            ));
        }
        if let Some(d) = domains(|r| matches!(r, DkimResult::TempError(_))) {
            out.push(self.symbol(
                "DKIM_TEMPERROR",
                format!("Lỗi DNS tạm thời khi lấy khóa DKIM ({d})"),
                format!("DKIM key lookup failed ({d})"),
            ));
        }
        if let Some(d) = domains(|r| matches!(r, DkimResult::PermError(_))) {
            out.push(self.symbol(
                "DKIM_PERMERROR",
                format!("Khóa DKIM không có hoặc sai ({d})"),
                format!("DKIM key missing or broken ({d})"),
            ));
        }
        out
    }

    pub(super) fn arc_symbol(&self, arc: &ArcOutput) -> Finding {
        let r = arc.result();
        count("arc", result_name(r));
        let (name, vi, en) = match r {
            DkimResult::Pass => ("ARC_PASS", "Chuỗi ARC hợp lệ", "ARC chain valid"),
            DkimResult::None => ("ARC_NONE", "Không có chuỗi ARC", "no ARC chain"),
            DkimResult::TempError(_) => ("ARC_TEMPERROR", "Lỗi DNS khi kiểm ARC", "ARC DNS error"),
            _ => ("ARC_FAIL", "Chuỗi ARC sai", "ARC chain broken"),
        };
        self.symbol(name, vi.into(), en.into())
    }

    /// The DMARC symbol, and the finding the domain's policy asks for when DMARC fails.
    /// Whether a failing message falls in the share of mail the record's `pct=` asks the
    /// policy for (RFC 7489 §6.3, §6.6.4). RFC 9989, which mail-auth implements, dropped
    /// `pct` for `t=y`, but domains still publish `p=reject; pct=0` while they roll DMARC
    /// out, and expect no refusal. The record is read again, raw, from the author domain up
    /// (the resolver's own cache answers what the walk just asked).
    pub(super) async fn sampled(&self, author: &str) -> bool {
        let mut name = author.trim_end_matches('.').to_string();
        for _ in 0..8 {
            if !name.contains('.') {
                break;
            }
            let raw = self
                .auth
                .resolver
                .txt_raw_lookup(format!("_dmarc.{name}."))
                .await;
            if let Ok(raw) = raw {
                let text = String::from_utf8_lossy(&raw).to_string();
                if text.trim_start().starts_with("v=DMARC1") {
                    return match pct(&text) {
                        Some(p) if p < 100 => roll() < p,
                        _ => true,
                    };
                }
            }
            match name.split_once('.') {
                Some((_, parent)) => name = parent.to_string(),
                None => break,
            }
        }
        true
    }

    pub(super) fn dmarc_findings(&self, d: &DmarcOutput, policy: Policy) -> Vec<Finding> {
        let dom = d.domain().to_string();
        let result = d.result();
        let mut out = Vec::new();
        match &result {
            DmarcResult::Pass => {
                count("dmarc", "pass");
                out.push(self.symbol(
                    "DMARC_PASS",
                    format!("DMARC hợp lệ ({dom})"),
                    format!("DMARC pass ({dom})"),
                ));
            }
            DmarcResult::Fail(_) => {
                count("dmarc", "fail");
                let (name, action, word) = match policy {
                    Policy::Reject => ("DMARC_FAIL_REJECT", self.cfg.dmarc_reject, "reject"),
                    Policy::Quarantine => (
                        "DMARC_FAIL_QUARANTINE",
                        self.cfg.dmarc_quarantine,
                        "quarantine",
                    ),
                    _ => ("DMARC_FAIL_NONE", Action::Accept, "none"),
                };
                out.push(self.symbol(
                    name,
                    format!("DMARC không đạt ({dom}, p={word})"),
                    format!("DMARC fail ({dom}, p={word})"),
                ));
                if action != Action::Accept {
                    out.push(Finding::new(
                        rule::DMARC,
                        action,
                        Bilingual::new(
                            format!("Tên miền {dom} yêu cầu {} thư không xác thực được (DMARC p={word})", if word == "reject" { "từ chối" } else { "cách ly" }),
                            format!("Domain {dom} asks to {word} mail that fails authentication (DMARC p={word})"),
                        ),
                    ));
                }
            }
            DmarcResult::TempError(_) => {
                count("dmarc", "temperror");
                out.push(self.symbol(
                    "DMARC_TEMPERROR",
                    format!("Lỗi DNS tạm thời khi kiểm DMARC ({dom})"),
                    format!("DMARC DNS error ({dom})"),
                ));
                if self.cfg.dmarc_temperror == Action::Tempfail {
                    out.push(Finding::new(
                        rule::DMARC,
                        Action::Tempfail,
                        Bilingual::new(
                            format!("Chưa kiểm được DMARC của {dom}, xin gửi lại sau"),
                            format!("DMARC of {dom} could not be checked, try again later"),
                        ),
                    ));
                }
            }
            DmarcResult::PermError(_) => {
                count("dmarc", "permerror");
                out.push(self.symbol(
                    "DMARC_PERMERROR",
                    format!("Bản ghi DMARC sai ({dom})"),
                    format!("DMARC record broken ({dom})"),
                ));
            }
            DmarcResult::None => {
                count("dmarc", "none");
                out.push(self.symbol(
                    "DMARC_NONE",
                    "Không có chính sách DMARC".into(),
                    "no DMARC policy".into(),
                ));
            }
        }
        out
    }

    pub(super) fn forged(&self, claims: &[String], ev: &Evidence) -> Option<Finding> {
        let (action, domain, unsure) = match align::judge(claims, &self.internal, ev) {
            Claim::Fine => return None,
            Claim::Forged { domain } => (self.cfg.forged_internal, domain, false),
            Claim::Unknown { domain } => (self.cfg.forged_internal_temperror, domain, true),
        };
        count(
            "forged_internal",
            if unsure { "temperror" } else { "forged" },
        );
        if action == Action::Accept {
            return None;
        }
        let text = if unsure {
            Bilingual::new(
                format!("Chưa xác thực được thư mang tên miền nội bộ {domain} (lỗi DNS), xin gửi lại sau"),
                format!("Mail claiming internal domain {domain} could not be authenticated (DNS failure), try again later"),
            )
        } else {
            Bilingual::new(
                format!("Thư từ bên ngoài mạo danh tên miền nội bộ {domain}: không qua SPF hay DKIM của tên miền này; cấm giả mạo thư của người khác"),
                format!("Mail from outside claims internal domain {domain} without an aligned SPF or DKIM pass; forging another's mail is forbidden"),
            )
        };
        Some(Finding::new(rule::FORGED_INTERNAL, action, text))
    }
}

/// The next milder policy (RFC 7489 §6.6.4: for mail outside `pct`).
pub(super) fn lowered(p: Policy) -> Policy {
    match p {
        Policy::Reject => Policy::Quarantine,
        _ => Policy::None,
    }
}

/// The `pct=` of a DMARC record, 0 to 100.
pub(super) fn pct(record: &str) -> Option<u8> {
    record.split(';').find_map(|tag| {
        let (k, v) = tag.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("pct"))
            .then(|| v.trim().parse::<u8>().ok().map(|p| p.min(100)))
            .flatten()
    })
}

/// A number below 100, fresh per call (sampling needs no secret, only no pattern).
pub(super) fn roll() -> u8 {
    use std::hash::BuildHasher;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    (std::collections::hash_map::RandomState::new().hash_one(seed) % 100) as u8
}

/// The error of a method that ran out of `spam.auth.deadline`.
pub(super) fn timed_out() -> mail_auth::Error {
    mail_auth::Error::Dns(mail_auth::DnsError::Resolver("deadline passed".into()))
}

pub(super) fn result_name(r: &DkimResult) -> &'static str {
    match r {
        DkimResult::Pass => "pass",
        DkimResult::Neutral(_) => "neutral",
        DkimResult::Fail(_) => "fail",
        DkimResult::PermError(_) => "permerror",
        DkimResult::TempError(_) => "temperror",
        DkimResult::None => "none",
    }
}

pub(super) fn count(method: &str, result: &str) {
    metrics()
        .auth_results
        .with_label_values(&[method, result])
        .inc();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pct_is_read_and_lowers_the_policy() {
        assert_eq!(pct("v=DMARC1; p=reject; pct=0"), Some(0));
        assert_eq!(pct("v=DMARC1; p=reject; PCT = 250"), Some(100));
        assert_eq!(pct("v=DMARC1; p=reject"), None);
        assert_eq!(lowered(Policy::Reject), Policy::Quarantine);
        assert_eq!(lowered(Policy::Quarantine), Policy::None);
        assert!((0..50).all(|_| roll() < 100));
    }
}
