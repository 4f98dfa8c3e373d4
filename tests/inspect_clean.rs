//! Clean controls: real documents and ordinary mail must pass with no finding at all.

mod support;

use support::*;

fn judge(msg: &[u8]) -> Vec<locthu::engine::Finding> {
    inspector().inspect(msg)
}

#[test]
fn pdf_docx_xlsx_jpeg() {
    let msg = message(
        "Báo cáo tháng 10",
        vec![
            text("Kính gửi phòng, xin gửi báo cáo.\n"),
            attachment("Báo cáo tháng 10.pdf", &pdf()),
            attachment("Báo cáo.docx", &docx()),
            attachment("Tổng hợp.xlsx", &xlsx()),
            attachment("anh-hoi-nghi.jpg", &jpeg()),
        ],
    );
    assert_clean(&judge(&msg));
}

#[test]
fn fixtures_are_what_they_claim() {
    let r = locthu::inspect::walk(
        &message(
            "x",
            vec![
                attachment("a.pdf", &pdf()),
                attachment("b.docx", &docx()),
                attachment("c.xlsx", &xlsx()),
                attachment("d.jpg", &jpeg()),
            ],
        ),
        &locthu::inspect::Limits::default(),
    );
    let kinds: Vec<_> = r
        .parts
        .iter()
        .filter(|p| p.origin == locthu::inspect::Origin::Mime)
        .map(|p| p.sniff)
        .collect();
    use locthu::inspect::Sniff::*;
    assert_eq!(kinds, vec![Pdf, Ooxml, Ooxml, Image], "{:?}", r.parts);
}

#[test]
fn smime_signed_mail() {
    let msg = include_bytes!("fixtures/smime-signed.eml");
    assert_clean(&judge(msg));
}

#[test]
fn pgp_signed_mail() {
    // Its text says "mật khẩu wifi … là không có": a password candidate, and nothing else.
    let msg = include_bytes!("fixtures/pgp-signed.eml");
    assert_clean(&judge(msg));
}

#[test]
fn calendar_invite_mail() {
    assert_clean(&judge(&calendar_invite()));
}

#[test]
fn zip_whose_name_says_encrypted_but_is_not() {
    let z = zip(&[
        ("bao-cao.pdf", &pdf()),
        ("ghi-chu.txt", b"khong co mat khau"),
    ]);
    assert_clean(&judge(&with_attachment(
        "tai-lieu-encrypted-ma-hoa.zip",
        &z,
    )));
}

#[test]
fn plain_text_and_html_mail() {
    let msg = b"From: a@kiengiang.gov.vn\r\nTo: b@kiengiang.gov.vn\r\nSubject: =?UTF-8?B?VGjDtG5nIGLDoW8=?=\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=x\r\n\r\n--x\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nTh\xc3\xb4ng b\xc3\xa1o ngh\xe1\xbb\x89 l\xe1\xbb\x85.\r\n--x\r\n\
Content-Type: text/html; charset=utf-8\r\n\r\n<p>Th\xc3\xb4ng b\xc3\xa1o</p>\r\n--x--\r\n";
    assert_clean(&judge(msg));
}

#[test]
fn attachment_exactly_at_the_cap_passes() {
    let mut cfg = locthu::checks::inspect::InspectConfig::default();
    cfg.attachment_size.per_attachment = locthu::config::ByteSize(10_000_000);
    let data = vec![0x55u8; 10_000_000];
    assert_clean(&inspector_with(cfg).inspect(&with_attachment("du-lieu.bin", &data)));
}
