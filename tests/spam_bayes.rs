//! Issue 10, the Bayesian classifier end to end: `locthu spam learn` on a maildir and an mbox
//! of Vietnamese and English spam and ham written here, then `locthu scan` of new messages
//! gives BAYES_99 and BAYES_00; learning twice counts once; two configs sharing a real
//! redis-server see the same counts; a message released from quarantine is learnt as ham.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Dialog, Gateway, Sink};
use locthu::config::{Span, State, StateBackend};
use locthu::spam::bayes::{learn, Class, Db};
use locthu::state::Store;

const SPAM_SUBJECTS: &[&str] = &[
    "Vay tiền nhanh không cần thế chấp",
    "Nhà cái uy tín tặng thưởng 200%",
    "Cá độ bóng đá, soi kèo miễn phí",
    "Claim your crypto bonus today",
    "You have won the international lottery",
    "Thông báo: hộp thư công vụ sắp bị khóa",
];
const SPAM_LINES: &[&str] = &[
    "Giải ngân trong 15 phút, lãi suất thấp, chỉ cần căn cước công dân.",
    "Nạp tiền lần đầu nhận thưởng 200%, rút tiền siêu tốc 24/7.",
    "Soi kèo nhà cái, lô đề xổ số miền Bắc, tỷ lệ thắng cao nhất.",
    "Bấm vào đường link để nhận quà ngay hôm nay, số lượng có hạn.",
    "Xác minh mật khẩu hộp thư công vụ ngay để tránh bị khóa tài khoản.",
    "Double your bitcoin in 24 hours with our guaranteed trading bot.",
    "Congratulations winner, send your bank details to claim the prize.",
    "Limited offer: click here to unsubscribe or claim your free reward.",
    "Kiếm tiền online tại nhà, thu nhập 50 triệu mỗi tháng, không cần vốn.",
];
const SPAM_LINKS: &[&str] = &[
    "http://nhacai-uytin.example.net/dang-ky",
    "http://vay-nhanh.example.org/giai-ngan",
    "http://crypto-bonus.example.com/claim",
];
const HAM_SUBJECTS: &[&str] = &[
    "Công văn về kế hoạch cải cách hành chính năm 2026",
    "Giấy mời họp giao ban tháng 12",
    "Báo cáo tình hình thực hiện nhiệm vụ quý IV",
    "Minutes of the provincial IT steering meeting",
    "Draft schedule for the e-government training",
    "Quyết định phân công cán bộ trực tết",
];
const HAM_LINES: &[&str] = &[
    "Ủy ban nhân dân tỉnh đề nghị các sở, ban, ngành triển khai thực hiện kế hoạch.",
    "Kính mời đồng chí dự cuộc họp giao ban tại phòng họp số 2, trụ sở Văn phòng.",
    "Các đơn vị gửi báo cáo về Sở Nội vụ trước ngày 20 để tổng hợp trình lãnh đạo.",
    "Đề nghị Sở Tài chính phối hợp rà soát dự toán ngân sách theo quy định.",
    "Văn bản này thay thế Công văn số 1234/UBND-VP ngày 05 tháng 11.",
    "Please review the attached agenda before the steering committee meets on Thursday.",
    "The training on the document management system will be held in the main hall.",
    "Action items: the department will update the network diagram and the backup plan.",
    "Trân trọng cảm ơn sự phối hợp của quý cơ quan.",
];

/// Message `i` of a class: a subject, three body lines and (spam) a link, picked so that
/// no two messages are the same.
fn message(spam: bool, i: usize) -> String {
    let (subjects, lines) = if spam {
        (SPAM_SUBJECTS, SPAM_LINES)
    } else {
        (HAM_SUBJECTS, HAM_LINES)
    };
    let mut body = String::new();
    for k in 0..3 {
        body.push_str(lines[(i * 7 + k * 4) % lines.len()]);
        body.push_str("\r\n");
    }
    if spam {
        body.push_str(SPAM_LINKS[i % SPAM_LINKS.len()]);
        body.push_str("\r\n");
    }
    let from = if spam {
        "khuyenmai@example.net"
    } else {
        "vanphong@angiang.gov.vn"
    };
    format!(
        "From: <{from}>\r\nTo: <vanthu@angiang.gov.vn>\r\nSubject: {}\r\nMessage-ID: <{}-{i}@test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\nMessage {i}.\r\n{body}",
        subjects[i % subjects.len()],
        if spam { "s" } else { "h" },
    )
}

const N: usize = 30;

/// A maildir of spam (`cur/` and `new/`) and an mbox of ham.
fn corpus(dir: &Path) -> (PathBuf, PathBuf) {
    let maildir = dir.join("spam-maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    for i in 0..N {
        let sub = if i % 2 == 0 { "cur" } else { "new" };
        std::fs::write(
            maildir.join(sub).join(format!("{i}.test:2,S")),
            message(true, i),
        )
        .unwrap();
    }
    // Mail being delivered is no message yet.
    std::fs::write(maildir.join("tmp/partial"), "Subject: half").unwrap();
    let mut mbox = String::new();
    for i in 0..N {
        mbox.push_str("From vanphong@angiang.gov.vn Mon Dec  1 08:00:00 2026\n");
        mbox.push_str(&message(false, i).replace("\r\n", "\n"));
        mbox.push('\n');
    }
    let mbox_path = dir.join("ham.mbox");
    std::fs::write(&mbox_path, mbox).unwrap();
    (maildir, mbox_path)
}

const NEW_SPAM: &str = "From: <quatang@example.net>\r\nTo: <vanthu@angiang.gov.vn>\r\n\
Subject: Nhà cái uy tín: vay tiền nhanh, nhận thưởng\r\nMessage-ID: <new-spam@test>\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nNạp tiền lần đầu nhận thưởng 200%, soi kèo nhà cái.\r\n\
Double your bitcoin in 24 hours, click here to claim your free reward.\r\n\
http://nhacai-uytin.example.net/dang-ky\r\n";

const NEW_HAM: &str = "From: <vanphong@angiang.gov.vn>\r\nTo: <vanthu@angiang.gov.vn>\r\n\
Subject: Giấy mời họp về kế hoạch cải cách hành chính\r\nMessage-ID: <new-ham@test>\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nKính mời đồng chí dự cuộc họp giao ban, các đơn vị gửi báo cáo \
về Sở Nội vụ.\r\nPlease review the attached agenda before the steering committee meets.\r\n";

const BASE: &str = r#"
[server]
hostname = "gw.test"
trusted_networks = ["127.0.0.1/32"]
internal_domains = ["angiang.gov.vn"]
spool_dir = "{dir}"
reload_poll = "0s"
reverse_dns = false

[[listener]]
name = "inbound"
address = "{listen}"
role = "inbound"

[listener.upstream]
address = "{upstream}"
tls = "off"

[quarantine]
dir = "{dir}/quarantine"

[admin]
listen = "{admin}"

[antivirus]
enabled = false

[spam.bayes]
min_spam = 20
min_ham = 20
"#;

fn write_config(dir: &Path, name: &str, state: &str, extra: &str) -> PathBuf {
    let text = BASE
        .replace("{dir}", &dir.display().to_string())
        .replace("{listen}", "127.0.0.1:1")
        .replace("{admin}", "")
        .replace("{upstream}", "127.0.0.1:2");
    let path = dir.join(name);
    std::fs::write(&path, format!("{text}\n{extra}\n{state}\n")).unwrap();
    path
}

fn embedded_state(dir: &Path) -> String {
    format!(
        "[state.embedded]\npath = \"{}\"\n",
        dir.join("state.redb").display()
    )
}

fn locthu(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_locthu"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn learn_cmd(config: &Path, spam: &Path, ham: &Path) -> String {
    let (ok, out, err) = locthu(&[
        "spam",
        "learn",
        "-c",
        config.to_str().unwrap(),
        "--spam",
        spam.to_str().unwrap(),
        "--ham",
        ham.to_str().unwrap(),
    ]);
    assert!(ok, "spam learn failed:\n{out}\n{err}");
    out
}

/// The symbols `locthu scan` gives each file, in order.
fn scan_symbols(config: &Path, files: &[&Path]) -> Vec<serde_json::Value> {
    let mut args = vec!["scan", "--config", config.to_str().unwrap()];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let (ok, out, err) = locthu(&args);
    assert!(ok, "scan failed:\n{out}\n{err}");
    out.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["symbols"].clone())
        .collect()
}

fn new_messages(dir: &Path) -> (PathBuf, PathBuf) {
    let s = dir.join("new-spam.eml");
    let h = dir.join("new-ham.eml");
    std::fs::write(&s, NEW_SPAM).unwrap();
    std::fs::write(&h, NEW_HAM).unwrap();
    (s, h)
}

#[test]
fn learnt_from_a_maildir_and_an_mbox_new_mail_scores_bayes_99_and_00() {
    let dir = tempfile::tempdir().unwrap();
    let (maildir, mbox) = corpus(dir.path());
    let config = write_config(dir.path(), "a.toml", &embedded_state(dir.path()), "");
    let (spam, ham) = new_messages(dir.path());

    // Before anything is learnt the classifier says nothing.
    let before = scan_symbols(&config, &[&spam]);
    assert!(before[0].get("BAYES_99").is_none(), "{before:?}");

    let out = learn_cmd(&config, &maildir, &mbox);
    assert!(
        out.contains(&format!("learnt {N} spam, {N} ham; 0 learnt before")),
        "{out}"
    );
    assert!(out.contains(&format!("totals: {N} spam, {N} ham")), "{out}");

    // The same messages again: recognised, not counted twice.
    let out = learn_cmd(&config, &maildir, &mbox);
    assert!(
        out.contains(&format!("learnt 0 spam, 0 ham; {} learnt before", 2 * N)),
        "{out}"
    );
    assert!(out.contains(&format!("totals: {N} spam, {N} ham")), "{out}");

    let got = scan_symbols(&config, &[&spam, &ham]);
    assert_eq!(got[0]["BAYES_99"], serde_json::json!(7.0), "{got:?}");
    assert_eq!(got[1]["BAYES_00"], serde_json::json!(-5.0), "{got:?}");
}

#[test]
fn learning_needs_the_minimum_of_each_class_and_a_path_that_exists() {
    let dir = tempfile::tempdir().unwrap();
    let (maildir, _) = corpus(dir.path());
    let config = write_config(dir.path(), "a.toml", &embedded_state(dir.path()), "");
    let (spam, _) = new_messages(dir.path());
    // Spam alone: no ham learnt, so no score.
    let (ok, out, err) = locthu(&[
        "spam",
        "learn",
        "-c",
        config.to_str().unwrap(),
        "--spam",
        maildir.to_str().unwrap(),
    ]);
    assert!(
        ok && out.contains(&format!("learnt {N} spam, 0 ham")),
        "{out}{err}"
    );
    let got = scan_symbols(&config, &[&spam]);
    assert!(
        got[0]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with("BAYES")),
        "{got:?}"
    );
    let missing = dir.path().join("no-such-dir");
    let (ok, _, err) = locthu(&[
        "spam",
        "learn",
        "-c",
        config.to_str().unwrap(),
        "--ham",
        missing.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("no-such-dir"), "{err}");
}

/// A private redis-server on a free loopback port, killed on drop.
struct Redis {
    port: u16,
    _dir: tempfile::TempDir,
    child: Child,
}

impl Redis {
    fn start() -> Redis {
        let bin = common::require("redis-server");
        let port = common::free_port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        common::wait_listening(format!("127.0.0.1:{port}").parse().unwrap());
        Redis {
            port,
            _dir: dir,
            child,
        }
    }

    fn section(&self) -> String {
        format!(
            "[state]\nbackend = \"redis\"\n[state.redis]\nurl = \"redis://127.0.0.1:{}/0\"\nprefix = \"angiang:\"\n",
            self.port
        )
    }

    fn state(&self) -> State {
        let mut s = State {
            backend: StateBackend::Redis,
            ..State::default()
        };
        s.redis.url = format!("redis://127.0.0.1:{}/0", self.port);
        s.redis.prefix = "angiang:".into();
        s.redis.response_timeout = Span(Duration::from_secs(2));
        s
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn two_nodes_sharing_redis_see_the_same_counts() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let (maildir, mbox) = corpus(dir.path());
    let node_a = write_config(dir.path(), "a.toml", &redis.section(), "");
    let node_b = write_config(dir.path(), "b.toml", &redis.section(), "");
    let (spam, ham) = new_messages(dir.path());
    // Node A learns; node B, which learnt nothing, classifies with A's counts.
    learn_cmd(&node_a, &maildir, &mbox);
    let got = scan_symbols(&node_b, &[&spam, &ham]);
    assert_eq!(got[0]["BAYES_99"], serde_json::json!(7.0), "{got:?}");
    assert_eq!(got[1]["BAYES_00"], serde_json::json!(-5.0), "{got:?}");
    // B learning the same corpus finds it all learnt already.
    let out = learn_cmd(&node_b, &maildir, &mbox);
    assert!(
        out.contains(&format!("learnt 0 spam, 0 ham; {} learnt before", 2 * N))
            && out.contains(&format!("totals: {N} spam, {N} ham")),
        "{out}"
    );
}

#[test]
fn a_message_released_from_quarantine_is_learnt_as_ham() {
    let redis = Redis::start();
    let sink = Sink::start(&[]);
    let corpus_dir = tempfile::tempdir().unwrap();
    let (maildir, mbox) = corpus(corpus_dir.path());
    // Bayes alone (BAYES_99, 7.0) holds a message in quarantine.
    let config = BASE.to_string()
        + "[spam.inbound]\ntag = 2.0\nquarantine = 3.0\nreject = \"off\"\n"
        + "[spam.outbound]\ntag = 2.0\nquarantine = 3.0\nreject = \"off\"\n"
        + &redis.section();
    let gw = Gateway::start(&config, sink.addr);
    learn_cmd(&gw.config, &maildir, &mbox);

    // A newsletter the classifier takes for spam.
    let message = NEW_SPAM.replace("<new-spam@test>", "<ban-tin@test>");
    let mut d = Dialog::open(gw.addr);
    let r = d.send_mail("quatang@example.net", &["vanthu@angiang.gov.vn"], &message);
    let f = corpus_dir.path().join("m.eml");
    std::fs::write(&f, &message).unwrap();
    let scanned = scan_symbols(&gw.config, &[&f]);
    assert!(
        r.starts_with("250") && r.contains("held for review"),
        "{r}\n{scanned:?}\n{}",
        gw.log()
    );
    let cfg = gw.config.to_str().unwrap();
    let (ok, list, _) = locthu(&["quarantine", "list", "--config", cfg]);
    assert!(ok && list.contains("quatang@example.net"), "{list}");
    let id = list.split('\t').next().unwrap().to_string();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = Db::new(
        Store::open(&redis.state()).unwrap(),
        Duration::from_secs(86400),
    );
    let sample = learn::sample(
        message.as_bytes(),
        Class::Ham,
        &locthu::inspect::Limits::default(),
        3000,
    );
    let (totals_before, before) = rt.block_on(db.lookup(&sample.features)).unwrap();

    let (ok, out, err) = locthu(&["quarantine", "release", "--config", cfg, &id]);
    assert!(ok, "{out}{err}");
    assert!(err.contains("learnt as ham (learnt)"), "{err}");
    assert_eq!(sink.wait_messages(1).len(), 1);

    let (totals, after) = rt.block_on(db.lookup(&sample.features)).unwrap();
    assert_eq!(totals.ham, totals_before.ham + 1);
    assert_eq!(totals.spam, totals_before.spam);
    // Every feature of the message counts one more ham, and no more spam; among them the
    // word `thưởng`, which the spam corpus taught.
    for (b, a) in before.iter().zip(&after) {
        assert_eq!((a.0, a.1), (b.0, b.1 + 1));
    }
    let word = locthu::spam::bayes::features::of_tokens(&["thưởng".to_string()], 1)[0];
    let i = sample.features.iter().position(|&f| f == word).unwrap();
    assert!(before[i].0 > 0, "thưởng was learnt from spam");
    assert_eq!(after[i].1, before[i].1 + 1);
}

#[test]
fn autolearn_learns_clear_verdicts_once_enabled() {
    let redis = Redis::start();
    let sink = Sink::start(&[]);
    // With no other scoring rule, every message scores 0: learnt as ham at ham_score = 0.
    let config = BASE.to_string()
        + "[spam.bayes.autolearn]\nenabled = true\nham_score = 0.0\nspam_score = 5.0\n"
        + &redis.section();
    let gw = Gateway::start(&config, sink.addr);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = Db::new(
        Store::open(&redis.state()).unwrap(),
        Duration::from_secs(86400),
    );
    let mut d = Dialog::open(gw.addr);
    let r = d.send_mail(
        "vanphong@angiang.gov.vn",
        &["vanthu@angiang.gov.vn"],
        NEW_HAM,
    );
    assert!(r.starts_with("250"), "{r}");
    let mut totals = rt.block_on(db.totals()).unwrap();
    for _ in 0..100 {
        if totals.ham == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        totals = rt.block_on(db.totals()).unwrap();
    }
    assert_eq!((totals.spam, totals.ham), (0, 1), "{}", gw.log());
    // The same message again is not counted twice.
    let r = d.send_mail(
        "vanphong@angiang.gov.vn",
        &["vanthu@angiang.gov.vn"],
        NEW_HAM,
    );
    assert!(r.starts_with("250"), "{r}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rt.block_on(db.totals()).unwrap().ham, 1);
}
