//! Every disguise of an executable (and of a macro document) that needs no archive reader: the
//! rule, the action and the part path of each finding.

mod support;

use locthu::engine::{rule, Action};
use support::*;

fn judge(msg: &[u8]) -> Vec<locthu::engine::Finding> {
    inspector().inspect(msg)
}

#[test]
fn exe_attached_plainly() {
    let f = judge(&with_attachment("setup.exe", &pe()));
    assert_finding(&f, rule::EXECUTABLE, Action::Reject, Some("setup.exe"));
}

#[test]
fn exe_renamed_pdf_is_caught_by_content() {
    let f = judge(&with_attachment("bao-cao.pdf", &pe()));
    assert_finding(&f, rule::EXECUTABLE, Action::Reject, Some("bao-cao.pdf"));
    assert!(f[0].text.en.contains("Windows PE"), "{}", describe(&f));
}

#[test]
fn double_extension_and_trailing_dots() {
    // Content is harmless text: the name alone must decide.
    let f = judge(&with_attachment("bao-cao.pdf.exe", b"not really"));
    assert_finding(
        &f,
        rule::EXECUTABLE,
        Action::Reject,
        Some("bao-cao.pdf.exe"),
    );
    let f = judge(&with_attachment("HUONG-DAN.JS. . ", b"WScript.Echo(1)"));
    assert_eq!(f.len(), 1, "{}", describe(&f));
    assert_eq!(f[0].rule, rule::EXECUTABLE);
}

#[test]
fn script_types_by_name() {
    for ext in [
        "js", "jse", "vbs", "vbe", "wsf", "wsh", "hta", "ps1", "bat", "cmd", "scr", "pif", "jar",
        "com", "dll", "cpl", "msi", "lnk",
    ] {
        let name = format!("tai-lieu.{ext}");
        let f = judge(&with_attachment(&name, b"echo hello"));
        assert_finding(&f, rule::EXECUTABLE, Action::Reject, Some(&name));
    }
}

#[test]
fn rfc2231_encoded_name() {
    let name = "Báo cáo quý 3.exe";
    let part = attachment_raw(
        &format!("application/octet-stream;\r\n {}", rfc2231("name", name)),
        &format!("attachment;\r\n {}", rfc2231("filename", name)),
        b"harmless bytes",
    );
    let f = judge(&message("RFC 2231", vec![text("xem tệp\n"), part]));
    assert_finding(&f, rule::EXECUTABLE, Action::Reject, Some(name));
}

#[test]
fn rfc2047_encoded_name() {
    let name = "Công văn số 12.scr";
    let part = attachment_raw(
        "application/octet-stream",
        &format!("attachment; filename=\"{}\"", encoded_word(name)),
        b"harmless bytes",
    );
    let f = judge(&message("RFC 2047", vec![part]));
    assert_finding(&f, rule::EXECUTABLE, Action::Reject, Some(name));
}

#[test]
fn nfd_vietnamese_name_is_normalised() {
    // "Quyết định.exe" written decomposed (NFD), as macOS mail clients send it.
    let nfd = "Quye\u{302}\u{301}t \u{111}i\u{323}nh.EXE";
    let part = attachment_raw(
        "application/octet-stream",
        &format!("attachment; filename=\"{}\"", encoded_word(nfd)),
        b"harmless",
    );
    let f = judge(&message("NFD", vec![part]));
    assert_finding(&f, rule::EXECUTABLE, Action::Reject, Some("Quyết định.EXE"));
}

#[test]
fn name_parameter_only() {
    let part = attachment_raw("application/x-msdownload; name=\"cai-dat.exe\"", "", b"x");
    let f = judge(&message("name= only", vec![part]));
    assert_finding(&f, rule::EXECUTABLE, Action::Reject, Some("cai-dat.exe"));
}

#[test]
fn harmless_filename_but_dangerous_name() {
    // Clients differ on which of the two they show; both are checked.
    let part = attachment_raw(
        "application/octet-stream; name=\"chay.exe\"",
        "attachment; filename=\"bao-cao.pdf\"",
        b"x",
    );
    let f = judge(&message("two names", vec![part]));
    assert_eq!(f.len(), 1, "{}", describe(&f));
    assert_eq!(f[0].rule, rule::EXECUTABLE);
}

#[test]
fn uuencoded_exe_in_body() {
    let body = format!(
        "Gửi anh chương trình.\n\n{}\nThân.\n",
        locthu::inspect::uu::encode("tool.exe", &pe())
    );
    let f = judge(&message("uuencode", vec![text(&body)]));
    assert_finding(
        &f,
        rule::EXECUTABLE,
        Action::Reject,
        Some("part 1/tool.exe"),
    );
}

#[test]
fn exe_in_message_in_message() {
    let inner = message(
        "inner",
        vec![text("trong\n"), attachment("setup.exe", &pe())],
    );
    let middle = message(
        "middle",
        vec![text("giữa\n"), rfc822(Some("inner.eml"), &inner)],
    );
    let outer = message(
        "outer",
        vec![text("ngoài\n"), rfc822(Some("middle.eml"), &middle)],
    );
    let f = judge(&outer);
    assert_finding(
        &f,
        rule::EXECUTABLE,
        Action::Reject,
        Some("middle.eml/inner.eml/setup.exe"),
    );
}

#[test]
fn exe_in_tnef_winmail_dat() {
    let tnef = locthu::inspect::tnef::build(&[("readme.txt", b"hello"), ("SETUP.EXE", &pe())]);
    let part = attachment_raw(
        "application/ms-tnef; name=\"winmail.dat\"",
        "attachment; filename=\"winmail.dat\"",
        &tnef,
    );
    let f = judge(&message("TNEF", vec![text("Outlook\n"), part]));
    assert_finding(
        &f,
        rule::EXECUTABLE,
        Action::Reject,
        Some("winmail.dat/SETUP.EXE"),
    );
    assert_eq!(f.len(), 1, "{}", describe(&f));
}

#[test]
fn tnef_renamed_exe_caught_by_content() {
    let tnef = locthu::inspect::tnef::build(&[("anh.jpg", &pe())]);
    let f = judge(&with_attachment("winmail.dat", &tnef));
    assert_finding(
        &f,
        rule::EXECUTABLE,
        Action::Reject,
        Some("winmail.dat/anh.jpg"),
    );
}

#[test]
fn elf_macho_fat_lnk_msi_by_content() {
    for (name, data, what) in [
        ("a.dat", elf(), "ELF"),
        ("b.dat", macho(), "Mach-O"),
        ("c.dat", macho_fat(), "Mach-O universal"),
        ("d.dat", lnk(), "LNK"),
        ("e.dat", msi(), "Windows Installer"),
    ] {
        let f = judge(&with_attachment(name, &data));
        assert_finding(&f, rule::EXECUTABLE, Action::Reject, Some(name));
        assert!(f[0].text.en.contains(what), "{what}: {}", describe(&f));
    }
}

#[test]
fn java_class_is_not_mistaken_for_macho() {
    let f = judge(&with_attachment("Main.bin", &java_class()));
    assert_clean(&f);
}

#[test]
fn mz_text_is_not_an_executable() {
    let f = judge(&with_attachment(
        "ghi-chu.txt",
        b"MZ la viet tat cua Mark Zbikowski.",
    ));
    assert_clean(&f);
}

#[test]
fn docm_with_vba_project() {
    let f = judge(&with_attachment("bao-cao.docm", &docm()));
    assert_finding(
        &f,
        rule::MACRO_DOCUMENT,
        Action::Quarantine,
        Some("bao-cao.docm"),
    );
    // Once the archive readers open it, its vbaProject.bin is the same macro, not a second one.
    assert_eq!(
        f.iter().filter(|x| x.rule == rule::MACRO_DOCUMENT).count(),
        1,
        "{}",
        describe(&f)
    );
}

#[test]
fn docm_renamed_docx_is_still_a_macro_document() {
    let f = judge(&with_attachment("bao-cao.docx", &docm()));
    assert_finding(
        &f,
        rule::MACRO_DOCUMENT,
        Action::Quarantine,
        Some("bao-cao.docx"),
    );
}

#[test]
fn legacy_doc_with_vba_storage() {
    let f = judge(&with_attachment("to-trinh.doc", &doc_with_macros()));
    assert_finding(
        &f,
        rule::MACRO_DOCUMENT,
        Action::Quarantine,
        Some("to-trinh.doc"),
    );
    let f = judge(&with_attachment("to-trinh.doc", &doc_plain()));
    assert_clean(&f);
}

#[test]
fn actions_come_from_config() {
    let mut cfg = locthu::checks::inspect::InspectConfig::default();
    cfg.executable.action = Action::Quarantine;
    cfg.macro_document.action = Action::Reject;
    let i = inspector_with(cfg);
    let f = i.inspect(&with_attachment("setup.exe", &pe()));
    assert_finding(&f, rule::EXECUTABLE, Action::Quarantine, Some("setup.exe"));
    let f = i.inspect(&with_attachment("a.xlsm", &docm()));
    assert_finding(&f, rule::MACRO_DOCUMENT, Action::Reject, Some("a.xlsm"));
}

#[test]
fn reply_names_rule_and_part_in_both_languages() {
    let f = judge(&with_attachment("setup.exe", &pe()));
    let r = f[0].reply().one_line();
    assert!(r.starts_with("550 5.7.1 Tệp thực thi"), "{r}");
    assert!(r.contains("Executable file not allowed"), "{r}");
    assert!(
        r.contains("[setup.exe]") && r.ends_with("(rule executable)"),
        "{r}"
    );
}

/// mail-parser 0.11.9 ended a part at a delimiter in the middle of a line and dropped every
/// later part; the vendored 1.0.1 does not (see vendor/mail-parser/VENDORED.md).
#[test]
fn boundary_in_mid_line_does_not_hide_later_parts() {
    let msg = format!(
        "From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
xem tep dinh kem --b nhe\r\n--b\r\n\
Content-Type: application/octet-stream; name=\"setup.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}--b--\r\n",
        base64(&pe())
    );
    let f = judge(msg.as_bytes());
    assert_finding(&f, rule::EXECUTABLE, Action::Reject, Some("setup.exe"));
}

/// RFC 2231 sections may come in any order (section 3); 0.11.9 joined them as written.
#[test]
fn rfc2231_sections_out_of_order() {
    let part = attachment_raw(
        "application/octet-stream;\r\n name*2*=%2Eexe;\r\n name*0*=utf-8''b%C3%A1o;\r\n name*1*=-c%C3%A1o",
        "",
        b"harmless",
    );
    let f = judge(&message("2231", vec![part]));
    assert_finding(&f, rule::EXECUTABLE, Action::Reject, Some("báo-cáo.exe"));
}

/// A part without any Content-Type or name, carrying a program, is still sniffed.
#[test]
fn unnamed_untyped_part_is_sniffed() {
    let msg = format!(
        "From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{}--b--\r\n",
        base64(&pe())
    );
    let f = judge(msg.as_bytes());
    assert_eq!(f.len(), 1, "{}", describe(&f));
    assert_eq!(f[0].rule, rule::EXECUTABLE);
}
