//! The content rules over the MIME walk: `attachment-size`, `executable`, `macro-document`,
//! `encrypted-archive` and `unscannable` (DESIGN.md "Content inspection"; Lai Châu
//! 13/2019/QĐ-UBND Đ2.7, Đ2.8, Đ4.6; attachment caps of KG Đ10.1, ST Đ8.1, AG Đ9.3b, ĐN Đ5.2).

use std::path::Path;
use std::sync::Arc;

use crate::checks::antivirus::Antivirus;
use crate::engine::{rule, Bilingual, Check, Connection, Envelope, Finding, Pending};
use crate::inspect::Content;
use crate::inspect::{self, names::ExtensionList, Limits, Opened, Origin, Reason, Report};

/// The default executable list, compiled in for when the configured default file is absent.
const BUILTIN_EXECUTABLES: &str = include_str!("../../filters/executables.txt");

pub use crate::config::inspect::*;

/// Checks `cfg` and builds the data-stage check; `base_dir` resolves relative paths.
pub fn build(cfg: &InspectConfig, base_dir: &Path) -> Result<Arc<dyn Check>, String> {
    build_with_scanner(cfg, base_dir, None)
}

/// Like [`build`]; members opened with a password from the message are sent to `scanner`
/// (when it is enabled), since clamd cannot open them itself.
pub fn build_with_scanner(
    cfg: &InspectConfig,
    base_dir: &Path,
    scanner: Option<Arc<Antivirus>>,
) -> Result<Arc<dyn Check>, String> {
    Ok(build_from(Inspector::new(cfg, base_dir)?, scanner))
}

/// The check over a built [`Inspector`]; see [`build_with_scanner`].
pub fn build_from(inspector: Inspector, scanner: Option<Arc<Antivirus>>) -> Arc<dyn Check> {
    Arc::new(InspectCheck {
        inspector: Arc::new(inspector),
        scanner: scanner.filter(|s| s.enabled()),
    })
}

/// The rules, ready to judge messages synchronously (the check runs them off the runtime).
#[derive(Debug)]
pub struct Inspector {
    cfg: InspectConfig,
    limits: Limits,
    extensions: ExtensionList,
}

impl Inspector {
    /// Validates `cfg`; errors name the key.
    pub fn new(cfg: &InspectConfig, base_dir: &Path) -> Result<Self, String> {
        let mut errors = Vec::new();
        if cfg.deadline.get().is_zero() {
            errors.push("inspect.deadline must be more than 0".to_string());
        }
        if cfg.max_mime_depth == 0 {
            errors.push("inspect.max_mime_depth must be at least 1".to_string());
        }
        if cfg.max_mime_parts == 0 {
            errors.push("inspect.max_mime_parts must be at least 1".to_string());
        }
        if cfg.archives.max_ratio == 0 {
            errors.push("inspect.archives.max_ratio must be at least 1".to_string());
        }
        if cfg.encrypted_archive.max_passwords > inspect::archive::MAX_PASSWORD_TRIES {
            errors.push(format!(
                "inspect.encrypted_archive.max_passwords must be at most {} (the archive readers' cap)",
                inspect::archive::MAX_PASSWORD_TRIES
            ));
        }
        let path = base_dir.join(&cfg.executable.list);
        let extensions = match std::fs::read_to_string(&path) {
            Ok(text) => ExtensionList::parse(&text),
            Err(_) if cfg.executable.list == DEFAULT_LIST => {
                ExtensionList::parse(BUILTIN_EXECUTABLES)
            }
            Err(e) => {
                errors.push(format!(
                    "inspect.executable.list: cannot read {}: {e}",
                    path.display()
                ));
                ExtensionList::default()
            }
        };
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        let limits = Limits {
            mime_depth: cfg.max_mime_depth,
            mime_parts: cfg.max_mime_parts,
            archive_depth: cfg.archives.max_depth,
            archive_members: cfg.archives.max_members,
            archive_bytes: cfg.archives.max_expanded.bytes(),
            archive_ratio: cfg.archives.max_ratio,
            deadline: cfg.deadline.get(),
            max_passwords: if cfg.encrypted_archive.try_passwords {
                cfg.encrypted_archive.max_passwords
            } else {
                0
            },
            // Exact decoded sizes cost a scan of every base64 body; the bound from the encoded
            // length decides whenever it is under the per-attachment cap. A total cap needs
            // every size exact.
            keep_opened: false,
            exact_size_above: match (
                cfg.attachment_size.per_attachment.bytes(),
                cfg.attachment_size.total.bytes(),
            ) {
                (_, t) if t > 0 => 0,
                (0, _) => u64::MAX,
                (p, _) => p,
            },
        };
        Ok(Inspector {
            cfg: cfg.clone(),
            limits,
            extensions,
        })
    }

    /// The walk's limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Walks and judges one message.
    pub fn inspect(&self, raw: &[u8]) -> Vec<Finding> {
        if !self.cfg.enabled {
            return Vec::new();
        }
        self.judge(&inspect::walk(raw, &self.limits))
    }

    /// Walks and judges one message, and returns the members a password opened with their
    /// bytes when `keep_opened` (for the virus scanner).
    pub fn inspect_keeping(&self, raw: &[u8], keep_opened: bool) -> (Vec<Finding>, Vec<Opened>) {
        if !self.cfg.enabled {
            return (Vec::new(), Vec::new());
        }
        let limits = Limits {
            keep_opened,
            ..self.limits.clone()
        };
        let mut report = inspect::walk(raw, &limits);
        let opened = std::mem::take(&mut report.opened);
        (self.judge(&report), opened)
    }

    /// The findings for a walk's report, most decisive rule first.
    pub fn judge(&self, report: &Report) -> Vec<Finding> {
        let mut exe = Vec::new();
        let mut macros: Vec<Finding> = Vec::new();
        let mut enc = Vec::new();
        let mut size = Vec::new();
        let mut unscan = Vec::new();

        for p in &report.parts {
            let by_name = p.names.iter().find_map(|n| self.extensions.matches(n));
            let by_content = (self.cfg.executable.by_content && p.sniff.is_executable())
                .then(|| p.sniff.describe());
            if by_name.is_some() || by_content.is_some() {
                let (vi, en) = match (by_content, by_name) {
                    (Some(c), _) => (format!("nội dung {c}"), format!("content: {c}")),
                    (None, Some(ext)) => (format!("đuôi .{ext}"), format!("extension .{ext}")),
                    (None, None) => unreachable!("one of them is set"),
                };
                exe.push(
                    Finding::new(
                        rule::EXECUTABLE,
                        self.cfg.executable.action,
                        Bilingual::new(
                            format!("Tệp thực thi không được phép ({vi})"),
                            format!("Executable file not allowed ({en})"),
                        ),
                    )
                    .with_part(&p.path),
                );
            }
            if p.sniff.is_macro() {
                // A docm's own vbaProject.bin is the same macro; report the outermost.
                let nested = macros.iter().any(|f| {
                    f.part
                        .as_deref()
                        .is_some_and(|outer| p.path.starts_with(&format!("{outer}/")))
                });
                if !nested {
                    macros.push(
                        Finding::new(
                            rule::MACRO_DOCUMENT,
                            self.cfg.macro_document.action,
                            Bilingual::new(
                                "Tài liệu chứa macro (VBA)",
                                "Document contains macros (VBA)",
                            ),
                        )
                        .with_part(&p.path),
                    );
                }
            }
        }

        for e in &report.encrypted {
            let mut vi = "Tệp nén có mật khẩu".to_string();
            let mut en = "Password-protected archive".to_string();
            if e.headers {
                vi.push_str(" (cả danh sách tệp bị mã hoá)");
                en.push_str(" (member list encrypted too)");
            }
            let ea = &self.cfg.encrypted_archive;
            let action = if e.opened {
                vi.push_str(" (đã mở bằng mật khẩu trong thư)");
                en.push_str(" (opened with the password given in the message)");
                ea.opened_action.unwrap_or(ea.action)
            } else {
                if e.opened_members > 0 {
                    vi.push_str(" (chỉ mở được một phần bằng mật khẩu trong thư)");
                    en.push_str(" (only partly opened with the password given in the message)");
                } else {
                    vi.push_str(" (không mở được để kiểm tra)");
                    en.push_str(" (could not be opened to inspect)");
                }
                ea.action
            };
            enc.push(
                Finding::new(rule::ENCRYPTED_ARCHIVE, action, Bilingual::new(vi, en))
                    .with_part(&e.path),
            );
        }

        let sz = &self.cfg.attachment_size;
        let attachments = report
            .parts
            .iter()
            .filter(|p| p.attachment && p.origin != Origin::Archive);
        let mut total: u64 = 0;
        for p in attachments {
            total = total.saturating_add(p.size);
            if sz.per_attachment.bytes() > 0 && p.size > sz.per_attachment.bytes() {
                size.push(
                    Finding::new(
                        rule::ATTACHMENT_SIZE,
                        sz.action,
                        Bilingual::new(
                            format!("Tệp đính kèm vượt quá {}", sz.per_attachment),
                            format!("Attachment exceeds {}", sz.per_attachment),
                        ),
                    )
                    .with_part(&p.path)
                    .with_code(552, "5.3.4"),
                );
            }
        }
        if sz.total.bytes() > 0 && total > sz.total.bytes() {
            size.push(
                Finding::new(
                    rule::ATTACHMENT_SIZE,
                    sz.action,
                    Bilingual::new(
                        format!("Tổng dung lượng tệp đính kèm vượt quá {}", sz.total),
                        format!("Attachments together exceed {}", sz.total),
                    ),
                )
                .with_code(552, "5.3.4"),
            );
        }

        for u in &report.unscannable {
            if matches!(u.reason, Reason::Unreadable(_)) && !self.cfg.unscannable.unreadable_members
            {
                continue;
            }
            let (vi, en) = u.reason.texts();
            let mut f = Finding::new(
                rule::UNSCANNABLE,
                self.cfg.unscannable.action,
                Bilingual::new(
                    format!("Không kiểm tra được nội dung: {vi}"),
                    format!("Content cannot be inspected: {en}"),
                ),
            );
            if !u.path.is_empty() {
                f = f.with_part(&u.path);
            }
            if u.reason == Reason::Internal {
                tracing::error!("inspection panicked; message judged unscannable");
            }
            unscan.push(f);
        }

        let mut out = exe;
        out.extend(macros);
        out.extend(enc);
        out.extend(size);
        out.extend(unscan);
        out
    }
}

/// The data-stage check over an [`Inspector`].
struct InspectCheck {
    inspector: Arc<Inspector>,
    /// clamd, for the members a password opened; `None` when antivirus is off.
    scanner: Option<Arc<Antivirus>>,
}

impl Check for InspectCheck {
    fn name(&self) -> &'static str {
        "inspect"
    }

    fn reads_content(&self) -> bool {
        self.inspector.cfg.enabled
    }

    /// Judges the shared content model (the engine parsed the message once); clamd gets the
    /// members a password from the message opened, which it cannot open itself.
    fn content<'a>(
        &'a self,
        _conn: &'a Connection,
        _env: &'a Envelope,
        content: &'a Content,
        out: &mut Vec<Finding>,
    ) -> Pending<'a> {
        if !self.inspector.cfg.enabled {
            return None;
        }
        out.extend(self.inspector.judge(&content.report));
        let scanner = self.scanner.as_ref()?;
        let opened = &content.report.opened;
        if opened.is_empty() {
            return None;
        }
        Some(Box::pin(scanner.scan_members(opened)))
    }
}
