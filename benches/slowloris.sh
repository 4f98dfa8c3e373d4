#!/usr/bin/env bash
# Slowloris figure (issue 8, item 5), in one run: 500 connections from 10 loopback addresses
# (50 each, the per-IP limit) dribble one byte every 5 s into commands that never end, holding
# every slot of max_connections = 500. Meanwhile a normal client sends one message at a time;
# printed: how long each took (connect to 250), how many slow sessions locthu cut, and the
# RSS of locthu before and while the slow connections are held.
#
#   cargo build --release && benches/slowloris.sh
#
# Needs postfix (smtp-sink) and python3. Loopback only; every loop is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${LOCTHU_BIN:-target/release/locthu}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v smtp-sink >/dev/null || PATH=$PATH:/usr/sbin
WORK=$(mktemp -d)
SINK_PORT=${SINK_PORT:-10935}
GW_PORT=${GW_PORT:-10936}
USER_OPT=(); [ "$(id -u)" = 0 ] && USER_OPT=(-u postfix)
cleanup() { kill "${GW_PID:-}" "${SINK_PID:-}" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
ulimit -n 8192 2>/dev/null || true

smtp-sink "${USER_OPT[@]}" 127.0.0.1:$SINK_PORT 1024 >/dev/null 2>&1 &
SINK_PID=$!
cat >"$WORK/locthu.toml" <<TOML
[server]
spool_dir = "$WORK"
trusted_networks = ["127.0.0.1/32"]
reverse_dns = false
[[listener]]
name = "bench"
address = "127.0.0.1:$GW_PORT"
role = "inbound"
[listener.upstream]
address = "127.0.0.1:$SINK_PORT"
tls = "off"
[limits]
max_connections = 500
max_connections_per_ip = 50
[admin]
listen = ""
TOML
"$BIN" serve --config "$WORK/locthu.toml" 2>"$WORK/log" &
GW_PID=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$GW_PORT) 2>/dev/null && break; sleep 0.1; done

python3 - "$GW_PORT" "$GW_PID" <<'PY'
import socket, sys, time
port, pid = int(sys.argv[1]), sys.argv[2]
def rss():
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS"):
            return l.split()[1] + " kB"
def mail():
    t = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")
    def reply():
        while True:
            l = f.readline()
            if l[3:4] != b"-":
                return l
    greet = reply()
    if not greet.startswith(b"220"):
        return None, greet.decode(errors="replace").strip()
    for c in [b"EHLO normal.example", b"MAIL FROM:<a@example.org>", b"RCPT TO:<b@laichau.gov.vn>", b"DATA"]:
        s.sendall(c + b"\r\n"); reply()
    s.sendall(b"Subject: hi\r\n\r\nhello\r\n.\r\n")
    r = reply()
    s.sendall(b"QUIT\r\n"); s.close()
    return time.monotonic() - t, r.decode(errors="replace").strip()

print("rss idle:", rss())
print("normal client alone: %.3f s  %s" % mail())
slow = []
for i in range(500):
    src = "127.0.0.%d" % (10 + i % 10)
    s = socket.socket(); s.bind((src, 0)); s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port)); s.recv(100); slow.append(s)
    except OSError as e:
        print("slow connect", i, e); s.close()
print("slow connections open:", len(slow))
cut = 0
times = []
start = time.monotonic()
while time.monotonic() - start < 30:
    for s in list(slow):
        try:
            s.send(b"H")
        except OSError:
            slow.remove(s); cut += 1
            # The attacker comes straight back.
            n = socket.socket(); n.bind(s.getsockname()[0:1] + (0,)); n.settimeout(5)
            try:
                n.connect(("127.0.0.1", port)); n.recv(100); slow.append(n)
            except OSError:
                n.close()
    t, r = mail()
    times.append(t if t is not None else float("inf"))
    print("normal client under attack: %s s  %s" % ("%.3f" % t if t else "-", r))
    time.sleep(5)
print("rss with %d slow connections held: %s" % (len(slow), rss()))
print("slow sessions cut by locthu: %d; normal mails: %d, slowest %.3f s" % (cut, len(times), max(times)))
PY
