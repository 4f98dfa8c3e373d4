//! Golden files (issue 9): each `tests/golden/<name>.eml` goes through `locthu scan` on a
//! province profile, with LF and with CRLF line ends, and its JSON line must equal
//! `<name>.json` (the `file` field aside). A mismatch prints actual next to expected.
//!
//! The cases are in `tests/golden/cases.toml`; `tests/golden/make.py` writes the messages.
//! `LOCTHU_BLESS=1` writes the expected files from the LF run, to be read and checked by hand.
//! Virus scanning runs against a real clamd with a test-written EICAR database.

mod clamd_harness;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

#[derive(Deserialize)]
struct Cases {
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    profile: String,
    #[serde(default)]
    rcpt: Vec<String>,
    #[serde(default)]
    client_ip: Option<String>,
    #[serde(default)]
    extra: String,
    /// The expected output's name, when one message is judged on several profiles.
    json: Option<String>,
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn scan(site: &Path, case: &Case, message: &Path) -> serde_json::Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_locthu"));
    cmd.args(["scan", "--config"])
        .arg(site)
        .args(["--mail-from", "vanthu@example.org"]);
    if let Some(ip) = &case.client_ip {
        cmd.args(["--client-ip", ip]);
    }
    for r in &case.rcpt {
        cmd.args(["--rcpt", r]);
    }
    let out = cmd.arg(message).output().unwrap();
    assert!(
        out.status.success(),
        "{}: scan failed: {}",
        case.name,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {:?}", case.name, out.stdout));
    v.as_object_mut().unwrap().remove("file");
    v
}

#[test]
fn scan_output_matches_the_golden_files_with_lf_and_crlf() {
    let dir = golden_dir();
    let cases: Cases =
        toml::from_str(&std::fs::read_to_string(dir.join("cases.toml")).unwrap()).unwrap();
    let clamd = clamd_harness::Clamd::start("1M", &[]);
    let work = tempfile::tempdir().unwrap();
    let bless = std::env::var_os("LOCTHU_BLESS").is_some();
    let mut failures = Vec::new();
    for case in &cases.case {
        let expected_name = case.json.as_deref().unwrap_or(&case.name);
        let site = work.path().join(format!("{expected_name}.toml"));
        std::fs::write(
            &site,
            format!(
                "extends = \"{}/config/profiles/{}.toml\"\n\
                 [antivirus]\nendpoints = [\"{}\"]\nverify_stream_max = false\n\
                 [quarantine]\ndir = \"{}/q\"\n{}",
                env!("CARGO_MANIFEST_DIR"),
                case.profile,
                clamd.tcp,
                work.path().display(),
                case.extra
            ),
        )
        .unwrap();
        let text = std::fs::read_to_string(dir.join(format!("{}.eml", case.name)))
            .unwrap_or_else(|e| panic!("{}.eml: {e} (run tests/golden/make.py)", case.name));
        let lf = text.replace("\r\n", "\n");
        let expected_path = dir.join(format!("{expected_name}.json"));
        for (ending, body) in [("LF", lf.clone()), ("CRLF", lf.replace('\n', "\r\n"))] {
            let message = work.path().join(format!("{expected_name}-{ending}.eml"));
            std::fs::write(&message, body).unwrap();
            let actual = scan(&site, case, &message);
            if bless && ending == "LF" {
                let pretty = serde_json::to_string_pretty(&actual).unwrap() + "\n";
                std::fs::write(&expected_path, pretty).unwrap();
            }
            let expected: serde_json::Value = match std::fs::read_to_string(&expected_path) {
                Ok(t) => serde_json::from_str(&t).unwrap(),
                Err(_) => {
                    failures.push(format!("{expected_name}: no {expected_name}.json"));
                    continue;
                }
            };
            if actual != expected {
                failures.push(format!(
                    "{expected_name} ({ending}):\n  expected: {expected}\n  actual:   {actual}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
