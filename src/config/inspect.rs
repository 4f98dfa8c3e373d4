//! `[inspect]`: the settings of content inspection (`crate::checks::inspect`). Config types
//! live with the config, so the config does not depend on the checks.

use serde::{Deserialize, Serialize};

use super::{ByteSize, Span};
use crate::engine::Action;

/// The executable list shipped with locthu, relative to the config file.
pub const DEFAULT_LIST: &str = "filters/executables.txt";

/// `[inspect]`: the content inspection rules and their limits.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct InspectConfig {
    /// Runs the inspection at all.
    pub enabled: bool,
    /// Wall-clock budget for one message; past it the message is `unscannable`.
    pub deadline: Span,
    /// MIME nesting depth (multiparts and attached messages).
    pub max_mime_depth: usize,
    /// MIME parts per message, attached messages included.
    pub max_mime_parts: usize,
    pub attachment_size: AttachmentSizeConfig,
    pub executable: ExecutableConfig,
    pub macro_document: MacroConfig,
    pub encrypted_archive: EncryptedConfig,
    pub unscannable: UnscannableConfig,
    pub archives: ArchivesConfig,
}

impl Default for InspectConfig {
    fn default() -> Self {
        InspectConfig {
            enabled: true,
            deadline: Span::secs(10),
            max_mime_depth: 32,
            max_mime_parts: 2000,
            attachment_size: AttachmentSizeConfig::default(),
            executable: ExecutableConfig::default(),
            macro_document: MacroConfig::default(),
            encrypted_archive: EncryptedConfig::default(),
            unscannable: UnscannableConfig::default(),
            archives: ArchivesConfig::default(),
        }
    }
}

/// `[inspect.attachment_size]`: caps on decoded attachment sizes (0 turns a cap off).
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct AttachmentSizeConfig {
    pub action: Action,
    /// Largest single attachment (KG, ST: 15 MB; ĐN: 25 MB).
    pub per_attachment: ByteSize,
    /// Largest total of the attachments of one message (AG: 10 MB).
    pub total: ByteSize,
}

impl Default for AttachmentSizeConfig {
    fn default() -> Self {
        AttachmentSizeConfig {
            action: Action::Reject,
            per_attachment: ByteSize(15_000_000),
            total: ByteSize(0),
        }
    }
}

/// `[inspect.executable]`: programs, by name and by content.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct ExecutableConfig {
    pub action: Action,
    /// The extension list, relative to the config file's directory.
    pub list: String,
    /// Also recognise programs by their content (PE, ELF, Mach-O, MSI, LNK).
    pub by_content: bool,
}

impl Default for ExecutableConfig {
    fn default() -> Self {
        ExecutableConfig {
            action: Action::Reject,
            list: DEFAULT_LIST.into(),
            by_content: true,
        }
    }
}

/// `[inspect.macro_document]`: Office documents carrying VBA macros.
///
/// Default `quarantine`: macro documents are the commonest malware carrier aimed at Vietnamese
/// state agencies, but xlsm report templates also circulate between departments legitimately;
/// quarantine keeps them from users while an admin can release the genuine ones. A profile may
/// choose `reject`.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct MacroConfig {
    pub action: Action,
}

impl Default for MacroConfig {
    fn default() -> Self {
        MacroConfig {
            action: Action::Quarantine,
        }
    }
}

/// `[inspect.encrypted_archive]`: password-protected archives. Only Lai Châu's regulation
/// restricts them (Đ2.8, Đ4.6 "hạn chế"); the profiles of the other provinces pass one that a
/// password given in the message opens (its members are judged and sent to clamd like any
/// attachment) and tag one that cannot be opened.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct EncryptedConfig {
    /// For an encrypted archive no password from the message opened (or opened only in part):
    /// its content was not inspected, nor scanned for viruses.
    pub action: Action,
    /// For one the message's passwords opened entirely; unset, `action` applies to it too.
    /// `accept` lets the rules on its members (executables, macros, viruses) decide alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opened_action: Option<Action>,
    /// Try the passwords the message itself gives ("Mật khẩu: …") to look inside.
    pub try_passwords: bool,
    /// How many candidates at most.
    pub max_passwords: usize,
}

impl Default for EncryptedConfig {
    fn default() -> Self {
        EncryptedConfig {
            action: Action::Reject,
            opened_action: None,
            try_passwords: true,
            max_passwords: 8,
        }
    }
}

/// `[inspect.unscannable]`: what could not be inspected (limits, malformed archives).
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct UnscannableConfig {
    pub action: Action,
    /// An archive member that is listed but cannot be extracted (RAR compression, which no
    /// reader here decodes; a skipped method) counts as unscannable: its name was checked, a
    /// renamed program inside would not be. `false` trusts names alone for such members.
    pub unreadable_members: bool,
}

impl Default for UnscannableConfig {
    fn default() -> Self {
        UnscannableConfig {
            action: Action::Quarantine,
            unreadable_members: true,
        }
    }
}

/// `[inspect.archives]`: limits on opening archives, for all archives of a message together.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct ArchivesConfig {
    /// Archive levels opened (a zip in a zip is 2).
    pub max_depth: usize,
    /// Members listed.
    pub max_members: usize,
    /// Bytes expanded.
    pub max_expanded: ByteSize,
    /// Largest expansion ratio of a member.
    pub max_ratio: u64,
}

impl Default for ArchivesConfig {
    fn default() -> Self {
        ArchivesConfig {
            max_depth: 4,
            max_members: 1000,
            max_expanded: ByteSize(50_000_000),
            max_ratio: 100,
        }
    }
}
