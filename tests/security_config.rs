//! Issue 8, item 10: `check-config` (and reload, which runs the same code) refuses values that
//! would only fail at run time, names each with `file:line`, and reports all of them at once.

use std::process::{Command, Output};

fn run(args: &[&str], text: &str) -> (Option<i32>, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.toml");
    std::fs::write(&path, text).unwrap();
    let out: Output = Command::new(env!("CARGO_BIN_EXE_locthu"))
        .args(args)
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text, dir)
}

/// Runs check-config and asserts exit code 2 with `site.toml:<line>:` and `needle` on one line.
fn refused(text: &str, line: usize, needle: &str) -> String {
    let (code, out, _dir) = run(&["check-config"], text);
    assert_eq!(code, Some(2), "{out}");
    let want = format!("site.toml:{line}: ");
    assert!(
        out.lines().any(|l| l.contains(&want) && l.contains(needle)),
        "expected `{want}` … `{needle}` in:\n{out}"
    );
    assert!(!out.contains("panicked"), "{out}");
    out
}

const LISTENER: &str = "\n[[listener]]\nname = \"in\"\naddress = \"127.0.0.1:2525\"\n[listener.upstream]\naddress = \"127.0.0.1:25\"\n";

#[test]
fn too_many_workers_is_refused() {
    refused(
        &format!("[server]\nhostname = \"mx.example.vn\"\nworkers = 100000\n{LISTENER}"),
        3,
        "server.workers = 100000 is too many: use 1 to 256",
    );
}

#[test]
fn hostname_with_crlf_is_refused() {
    refused(
        "[server]\n\nhostname = \"mx.example.vn\\r\\n250 injected\"\n",
        3,
        "control character",
    );
}

#[test]
fn hostname_of_a_megabyte_is_refused() {
    let long = "a".repeat(1 << 20);
    refused(
        &format!("[server]\nhostname = \"{long}\"\n"),
        2,
        "at most 255",
    );
    // Not an RFC 5321 Domain either.
    refused("[server]\nhostname = \"mx_1 .vn\"\n", 2, "is not a domain");
}

#[test]
fn zero_timeouts_are_refused() {
    refused(
        "[server]\nhostname = \"mx.example.vn\"\n[limits]\ncommand_timeout = \"0s\"\n",
        4,
        "limits.command_timeout must be above zero",
    );
    refused(
        &format!("[server]\nhostname = \"mx.example.vn\"\n{LISTENER}connect_timeout = \"0s\"\n"),
        9,
        "upstream.connect_timeout must be above zero",
    );
}

#[test]
fn upstream_that_is_the_listener_itself_is_refused() {
    refused(
        "[server]\nhostname = \"mx.example.vn\"\n[[listener]]\nname = \"in\"\naddress = \"127.0.0.1:2525\"\n[listener.upstream]\naddress = \"127.0.0.1:2525\"\n",
        7,
        "is locthu's own listener `in`",
    );
    // A wildcard listener also takes loopback.
    refused(
        "[server]\nhostname = \"mx.example.vn\"\n[[listener]]\nname = \"in\"\naddress = \"0.0.0.0:2526\"\n[listener.upstream]\naddress = \"localhost:2526\"\n",
        7,
        "own listener",
    );
}

#[test]
fn every_semantic_error_is_reported_in_one_run() {
    let out = refused(
        &format!(
            "[server]\nhostname = \"bad host\"\nworkers = 5000\n{LISTENER}\n[admin]\nprobe_interval = \"0s\"\n"
        ),
        2,
        "server.hostname",
    );
    assert!(out.contains("site.toml:3: server.workers"), "{out}");
    assert!(out.contains("site.toml:12: admin.probe_interval"), "{out}");
}

#[test]
fn a_good_config_still_passes() {
    let (code, out, _dir) = run(
        &["check-config"],
        &format!("[server]\nhostname = \"[192.0.2.1]\"\nworkers = 256\n{LISTENER}"),
    );
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn serve_with_too_many_workers_exits_with_a_clear_error() {
    let (code, out, _dir) = run(
        &["serve"],
        &format!("[server]\nhostname = \"mx.example.vn\"\nworkers = 100000\n{LISTENER}[admin]\nlisten = \"\"\n"),
    );
    assert!(code.is_some() && code != Some(0), "{out}");
    assert!(out.contains("server.workers = 100000"), "{out}");
    assert!(!out.contains("panicked"), "{out}");
}

#[test]
fn wrong_values_in_several_sections_are_reported_together() {
    let out = refused(
        &format!("[server]\nworkers = \"many\"\n{LISTENER}[limits]\nmax_recipients = -1\n"),
        2,
        "invalid type",
    );
    assert!(out.contains("site.toml:10: "), "{out}");
}

#[test]
fn a_wrong_state_store_setting_is_named_with_its_line() {
    refused(
        &format!("[server]\nhostname = \"mx.example.vn\"\n{LISTENER}[state]\nbackend = \"redis\"\n[state.redis]\nurl = \"http://nope\"\n"),
        12,
        "redis.url",
    );
}

#[test]
fn errors_found_while_building_the_checks_carry_their_lines_too() {
    let out = refused(
        &format!("[server]\nhostname = \"mx.example.vn\"\n{LISTENER}[inspect]\ndeadline = \"0s\"\nmax_mime_depth = 0\n"),
        10,
        "inspect.deadline",
    );
    assert!(
        out.contains("site.toml:11: inspect.max_mime_depth"),
        "{out}"
    );
}
