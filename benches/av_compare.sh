#!/usr/bin/env bash
# Virus-scanning throughput, in one run, in front of ONE clamd and ONE smtp-sink (issue 5):
#
#   1. smtp-source -> smtp-sink                           the limit without scanning
#   2. smtp-source -> locthu (antivirus, inspect off)     -> smtp-sink
#      smtp-source -> locthu (antivirus + inspect)        -> smtp-sink
#   3. smtp-source -> clamsmtpd                           -> smtp-sink
#   4. smtp-source -> amavisd-new (ClamAV-clamd only)     -> smtp-sink
#   5. a plain clamd INSTREAM loop, SESSIONS streams of the very message smtp-source sends
#
# at SESSIONS (20) sessions of SIZE (100 KB) messages, connections reused (smtp-source -d).
# Every row runs for SECS seconds after a WARM-second warm-up and counts the messages the sink
# received in that time (the INSTREAM row counts clean replies); the INSTREAM loop and locthu run
# twice (loop, locthu, ..., locthu, loop) and the ratios use the means. Targets (issue 5): locthu
# >= 3x the better of clamsmtp/amavis, and >= 0.7 of the INSTREAM loop. Besides msg/s, each row
# shows the CPU time clamd and the proxy spent per message, and how idle the machine was: with
# clamd's ms/msg the same across rows and no idle CPU, clamd is the limit.
#
# Before timing, each proxy must stop an EICAR attachment and deliver a clean message (the
# database is one MD5 signature of the 68-byte EICAR file, as in benches/clamd_loop.sh).
#
#   cargo build --release && benches/av_compare.sh
#   SESSIONS=20 SIZE=100000 SECS=10 AV_VIA=unix benches/av_compare.sh
#
# AV_VIA=tcp|unix (default tcp): how locthu and the INSTREAM loop reach clamd (clamsmtp and
# amavis always use the Unix socket: clamsmtp and amavis's ClamAV-clamd hand clamd a file name).
# SAME=1 adds the INSTREAM loop on one identical message (clamd's clean-result cache answers it).
# CLAMD_LOOP=1 also runs benches/clamd_loop.rs (its own MIME message, TCP) for comparison; it
# sends one identical message again and again, so it measures clamd's cache, not its scanning.
# KEEP=1 keeps the temp dir (configs, logs of clamd, locthu, clamsmtpd, amavisd).
# Needs (Debian): postfix (smtp-source, smtp-sink), clamav-daemon, clamsmtp, amavisd-new,
# python3. Run as root (amavisd and clamsmtpd are started as root and amavisd drops to the
# 'amavis' user). Everything runs on loopback, in a temp dir, every loop is bounded, and every
# process started here is killed on exit. Absolute numbers on a shared machine are noise:
# compare rows of the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${LOCTHU_BIN:-${CARGO_TARGET_DIR:-target}/release/locthu}
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-100000}
SECS=${SECS:-10}
WARM=${WARM:-2}
AV_VIA=${AV_VIA:-tcp}
PATH=$PATH:/usr/sbin:/usr/bin:/sbin

# --- tools --------------------------------------------------------------------------------------
missing=0
need() { # command package
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "missing $1: apt-get install $2" >&2
        missing=1
    fi
}
need smtp-source postfix
need smtp-sink postfix
need clamd clamav-daemon
need clamsmtpd clamsmtp
need amavisd amavisd-new
need python3 python3
[ "$missing" = 0 ] || exit 1
[ -x "$BIN" ] || { echo "locthu binary not found at $BIN: cargo build --release (or LOCTHU_BIN=...)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run as root (amavisd/clamsmtpd/smtp-sink switch users)" >&2; exit 1; }
id amavis >/dev/null 2>&1 || { echo "user 'amavis' missing: apt-get install amavisd-new" >&2; exit 1; }
case $AV_VIA in tcp | unix) ;; *) echo "AV_VIA must be tcp or unix" >&2; exit 1 ;; esac

# --- ports, temp dir, cleanup -------------------------------------------------------------------
BASE=${BASE_PORT:-$((20000 + RANDOM % 12000))} # below the ephemeral range
SINK_PORT=$BASE GW_PORT=$((BASE + 1)) GW2_PORT=$((BASE + 2)) ADMIN_PORT=$((BASE + 3))
ADMIN2_PORT=$((BASE + 4)) CLAMSMTP_PORT=$((BASE + 5)) AMAVIS_PORT=$((BASE + 6))
CLAMD_PORT=$((BASE + 7)) DUMP_PORT=$((BASE + 8)) GW0_PORT=$((BASE + 9)) ADMIN0_PORT=$((BASE + 10))
for p in $(seq "$BASE" $((BASE + 10))); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        echo "port $p is in use; set BASE_PORT to a free range of 11 ports" >&2
        exit 1
    fi
done

WORK=$(mktemp -d /tmp/av_compare.XXXXXX)
chmod 755 "$WORK" # amavisd runs as 'amavis' and must reach its dir and clamd's socket
PIDS=()
running() { [ -r "/proc/$1/stat" ] && [ "$(cut -d')' -f2 "/proc/$1/stat" | cut -d' ' -f2)" != Z ]; }
cleanup() {
    local p kids="" _
    # amavisd's children too (its parent stops them on TERM; this is in case it cannot).
    [ -n "${AMAVIS_PID:-}" ] && kids=$(pgrep -P "$AMAVIS_PID" || true)
    for p in "${PIDS[@]}" $kids; do kill "$p" 2>/dev/null || true; done
    for _ in $(seq 1 50); do
        local left=0
        for p in "${PIDS[@]}" $kids; do running "$p" && left=1; done
        [ "$left" = 0 ] && break
        sleep 0.1
    done
    for p in "${PIDS[@]}" $kids; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "${KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() { # port what [pid]
    local i
    for i in $(seq 1 ${4:-300}); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        if [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null; then break; fi
        sleep 0.1
    done
    echo "$2 did not come up on port $1" >&2
    return 1
}

# --- clamd: its own config and a one-signature database --------------------------------------
mkdir "$WORK/db"
echo '44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature' >"$WORK/db/eicar.hdb"
CLAMD_SOCK=$WORK/clamd.sock
cat >"$WORK/clamd.conf" <<CONF
Foreground yes
DatabaseDirectory $WORK/db
TCPSocket $CLAMD_PORT
TCPAddr 127.0.0.1
LocalSocket $CLAMD_SOCK
LocalSocketMode 666
TemporaryDirectory $WORK
LogFile $WORK/clamd.log
StreamMaxLength 25M
CONF
clamd -c "$WORK/clamd.conf" >/dev/null 2>&1 &
PIDS+=($!)
CLAMD_PID=$!
wait_port "$CLAMD_PORT" clamd $! || { cat "$WORK/clamd.log" >&2; exit 1; }
for _ in $(seq 1 50); do [ -S "$CLAMD_SOCK" ] && break; sleep 0.1; done

# --- smtp-sink: one for the whole run; -c keeps a delivered-message counter on stdout ---------
smtp-sink -c -u postfix "127.0.0.1:$SINK_PORT" 256 >"$WORK/sink.count" 2>"$WORK/sink.log" &
PIDS+=($!)
wait_port "$SINK_PORT" smtp-sink $!
sink_count() { tr '\r' '\n' <"$WORK/sink.count" | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -1 | grep . || echo 0; }

# The message smtp-source sends, captured once by a throwaway dumping sink (for the INSTREAM
# loop): drop the sink's own X-*/Received lines, back to CRLF.
mkdir -m 777 "$WORK/dump"
smtp-sink -u postfix -d "$WORK/dump/%M." "127.0.0.1:$DUMP_PORT" 4 >/dev/null 2>&1 &
DUMP_PID=$!
PIDS+=($DUMP_PID)
wait_port "$DUMP_PORT" dump-sink $DUMP_PID
timeout 10 smtp-source -m 1 -l "$SIZE" -f bench@example.gov.vn -t sink@example.gov.vn "127.0.0.1:$DUMP_PORT"
sleep 0.2
kill "$DUMP_PID" 2>/dev/null || true
dumped=$(ls "$WORK"/dump/* | head -1)
awk '/^From: /{go=1} go{printf "%s\r\n", $0}' "$dumped" >"$WORK/message.eml"
MSG_BYTES=$(wc -c <"$WORK/message.eml")

# --- locthu: antivirus only, and antivirus + inspection -----------------------------------------
if [ "$AV_VIA" = unix ]; then ENDPOINT="unix:$CLAMD_SOCK"; else ENDPOINT="127.0.0.1:$CLAMD_PORT"; fi
locthu_conf() { # port admin_port inspect antivirus
    cat <<TOML
[server]
spool_dir = "$WORK"
[[listener]]
name = "bench"
address = "127.0.0.1:$1"
role = "outbound"
[listener.upstream]
address = "127.0.0.1:$SINK_PORT"
tls = "off"
[limits]
message_size = "30MB"
max_connections_per_ip = 200
[admin]
listen = "127.0.0.1:$2"
[log]
level = "warn"
[inspect]
enabled = $3
[antivirus]
enabled = $4
endpoints = ["$ENDPOINT"]
TOML
}
# Three gateways: antivirus only (the figure), antivirus + inspection, and the proxy alone (no
# scanning: what locthu costs without clamd).
declare -A GWPID
for v in av:$GW_PORT:$ADMIN_PORT:false:true inspect:$GW2_PORT:$ADMIN2_PORT:true:true proxy:$GW0_PORT:$ADMIN0_PORT:false:false; do
    IFS=: read -r name port admin inspect av <<<"$v"
    locthu_conf "$port" "$admin" "$inspect" "$av" >"$WORK/locthu-$name.toml"
    "$BIN" serve --config "$WORK/locthu-$name.toml" 2>"$WORK/locthu-$name.log" &
    PIDS+=($!)
    GWPID[$name]=$!
done
for v in av:$GW_PORT inspect:$GW2_PORT proxy:$GW0_PORT; do
    wait_port "${v#*:}" "locthu ${v%%:*}" "${GWPID[${v%%:*}]}" || { cat "$WORK/locthu-${v%%:*}.log" >&2; exit 1; }
done
GW_PID=${GWPID[av]}
# A gateway that is gone says why (exit 0 = it got SIGTERM/SIGINT from somewhere, 101 = panic).
alive() { # name
    local pid=${GWPID[$1]} rc=0
    kill -0 "$pid" 2>/dev/null && return 0
    wait "$pid" 2>/dev/null || rc=$?
    echo "locthu ($1, pid $pid) is gone, exit status $rc; its log:" >&2
    cat "$WORK/locthu-$1.log" >&2
    return 1
}

# --- clamsmtpd: foreground (-d), its own config ------------------------------------------------
mkdir "$WORK/clamsmtp"
cat >"$WORK/clamsmtpd.conf" <<CONF
OutAddress: 127.0.0.1:$SINK_PORT
Listen: 127.0.0.1:$CLAMSMTP_PORT
ClamAddress: $CLAMD_SOCK
TempDirectory: $WORK/clamsmtp
MaxConnections: 256
Action: drop
CONF
clamsmtpd -d 1 -f "$WORK/clamsmtpd.conf" -p "$WORK/clamsmtpd.pid" >"$WORK/clamsmtpd.log" 2>&1 &
PIDS+=($!)
CLAMSMTP_PID=$!
wait_port "$CLAMSMTP_PORT" clamsmtpd $! || { cat "$WORK/clamsmtpd.log" >&2; exit 1; }

# --- amavisd-new: foreground, a minimal config of our own --------------------------------------
AMAVIS_SERVERS=${AMAVIS_SERVERS:-$SESSIONS}
mkdir -p "$WORK/amavis/tmp" "$WORK/amavis/db" "$WORK/amavis/var"
chown -R amavis:amavis "$WORK/amavis"
cat >"$WORK/amavisd.conf" <<CONF
use strict;
# Debian's conf.d/01-debian: the search path and the helpers amavisd runs (file(1) types each part)
\$ENV{PATH} = \$path = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin:/usr/bin:/bin';
\$file = 'file'; \$gzip = 'gzip'; \$bzip2 = 'bzip2'; \$pax = 'pax'; \$cpio = 'cpio'; \$ar = 'ar';
\$MYHOME = '$WORK/amavis';
\$TEMPBASE = "\$MYHOME/tmp";
\$db_home = "\$MYHOME/db";
\$helpers_home = "\$MYHOME/var";
\$pid_file = "\$MYHOME/amavisd.pid";
\$lock_file = "\$MYHOME/amavisd.lock";
\$daemon_user = 'amavis';
\$daemon_group = 'amavis';
\$daemon_chroot_dir = undef;
\$mydomain = 'example.gov.vn';
\$myhostname = 'bench.example.gov.vn';
@local_domains_maps = (['.example.gov.vn']);
@mynetworks = qw(127.0.0.0/8);
\$inet_socket_bind = '127.0.0.1';
\$inet_socket_port = $AMAVIS_PORT;
@inet_acl = qw(127.0.0.1);
\$unix_socketname = undef;
\$forward_method = 'smtp:[127.0.0.1]:$SINK_PORT';
\$notify_method = \$forward_method;
\$max_servers = $AMAVIS_SERVERS;
\$max_requests = 100000;
\$child_timeout = 60;
\$do_syslog = 0;
\$LOGFILE = "\$MYHOME/amavis.log";
\$log_level = 0;
\$enable_db = 0;
\$enable_global_cache = 0;
\$enable_dkim_verification = 0;
\$enable_dkim_signing = 0;
@bypass_spam_checks_maps = (1);
@bypass_banned_checks_maps = (1);
@bypass_header_checks_maps = (1);
\$QUARANTINEDIR = undef;
\$virus_quarantine_method = undef;
\$final_virus_destiny = D_DISCARD;
\$warnvirussender = 0;
\$warnvirusrecip = 0;
@av_scanners = (
  ['ClamAV-clamd', \\&ask_daemon, ["CONTSCAN {}\\n", '$CLAMD_SOCK'],
    qr/\\bOK\$/m, qr/\\bFOUND\$/m, qr/^.*?: (?!Infected Archive)(.*) FOUND\$/m ],
);
@av_scanners_backup = ();
1;
CONF
amavisd -c "$WORK/amavisd.conf" foreground >"$WORK/amavisd.out" 2>&1 &
PIDS+=($!)
AMAVIS_PID=$!
wait_port "$AMAVIS_PORT" amavisd $AMAVIS_PID 600 || {
    cat "$WORK/amavisd.out" "$WORK/amavis/amavis.log" >&2 2>/dev/null
    exit 1
}

# --- measuring ----------------------------------------------------------------------------------
# Before anything is timed: one EICAR through each proxy must be refused or dropped (not
# delivered), one clean message delivered, so every row really scans.
eicar_msg() { # the 68-byte EICAR file as a base64 attachment (what eicar.hdb matches)
    printf 'From: bench@example.gov.vn\r\nTo: sink@example.gov.vn\r\nSubject: eicar\r\n'
    printf 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
    printf -- '--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n'
    printf -- '--b\r\nContent-Type: application/octet-stream; name="eicar.com"\r\n'
    printf 'Content-Transfer-Encoding: base64\r\n\r\n'
    printf '%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' | base64 -w 76 | sed 's/$/\r/'
    printf -- '--b--\r\n'
}
eicar_msg | tr -d '\r' >"$WORK/eicar.eml" # smtp-source -F adds the CRLF
SANE=()
sanity() { # port name
    local before after ok=1
    before=$(sink_count)
    timeout 30 smtp-source -F "$WORK/eicar.eml" -m 1 -f bench@example.gov.vn -t sink@example.gov.vn \
        "127.0.0.1:$1" >/dev/null 2>"$WORK/sanity.err" || true
    sleep 0.5
    after=$(sink_count)
    if [ "$after" != "$before" ]; then
        echo "warning: $2 delivered an EICAR message (sink $before -> $after): not scanning?" >&2
        ok=0
    fi
    timeout 30 smtp-source -m 1 -l "$SIZE" -f bench@example.gov.vn -t sink@example.gov.vn "127.0.0.1:$1" 2>&1 || true
    sleep 0.3
    if [ "$(sink_count)" -le "$after" ]; then
        echo "warning: $2 did not deliver a clean message" >&2
        ok=0
    fi
    [ "$ok" = 1 ] && SANE+=("$2")
}
sanity "$GW_PORT" "locthu"
sanity "$GW2_PORT" "locthu+inspect"
sanity "$CLAMSMTP_PORT" "clamsmtpd"
sanity "$AMAVIS_PORT" "amavisd"

# CPU time (clock ticks) used so far by processes and their reaped children: utime stime cutime
# cstime; amavisd's live children are added by pid.
TCK=$(getconf CLK_TCK)
cpu() { # pid... ; prints the total ticks
    local t=0 p f
    for p in "$@"; do
        f=$(cut -d')' -f2 "/proc/$p/stat" 2>/dev/null) || continue
        set -- $f
        t=$((t + ${12} + ${13} + ${14} + ${15}))
    done
    echo $t
}
proxy_pids() { # key -> the processes doing the proxy's work
    case $1 in
        direct | instream | instream2 | same) ;;
        locthu | locthu2) echo "${GWPID[av]}" ;;
        locthu_i) echo "${GWPID[inspect]}" ;;
        proxy) echo "${GWPID[proxy]}" ;;
        clamsmtp) echo "$CLAMSMTP_PID" ;;
        amavis) echo "$AMAVIS_PID" $(pgrep -P "$AMAVIS_PID") ;;
    esac
}
idle() { awk '/^cpu / { print $5 + $6 }' /proc/stat; }
# Prints "c0 p0 i0" before a row and, given them, the deltas: "clamd_ticks proxy_ticks idle_ticks".
snap() { # key
    echo "$(cpu "$CLAMD_PID") $(cpu $(proxy_pids "$1")) $(idle)"
}

# Runs smtp-source at PORT for SECS seconds (after a warm-up); prints
# "msgs_per_s msgs errors clamd_ticks proxy_ticks idle_ticks seconds".
measure() { # key port
    local s0 s1 t0 t1 errs c0 p0 i0 c1 p1 i1
    timeout "$WARM" smtp-source -d -s "$SESSIONS" -m 1000000 -l "$SIZE" \
        -f bench@example.gov.vn -t sink@example.gov.vn "127.0.0.1:$2" >/dev/null 2>&1 || true
    sleep 1
    read -r c0 p0 i0 <<<"$(snap "$1")"
    s0=$(sink_count)
    t0=$(date +%s.%N)
    timeout "$SECS" smtp-source -c -d -s "$SESSIONS" -m 1000000 -l "$SIZE" \
        -f bench@example.gov.vn -t sink@example.gov.vn "127.0.0.1:$2" >"$WORK/source.count" 2>"$WORK/source.err" || true
    t1=$(date +%s.%N)
    s1=$(sink_count)
    read -r c1 p1 i1 <<<"$(snap "$1")"
    errs=$(grep -c -v -i 'lost connection\|terminated' "$WORK/source.err" || true)
    if [ "$errs" -gt 0 ]; then { echo "smtp-source errors at port $2 ($1):"; sort "$WORK/source.err" | uniq -c | sort -rn | head -5; } >&2; fi
    awk -v a="$s0" -v b="$s1" -v t0="$t0" -v t1="$t1" -v e="$errs" -v c=$((c1 - c0)) -v p=$((p1 - p0)) -v i=$((i1 - i0)) \
        'BEGIN { printf "%.1f %d %d %d %d %d %.3f\n", (b - a) / (t1 - t0), b - a, e, c, p, i, t1 - t0 }'
}

# A plain INSTREAM loop: SESSIONS threads, each a fresh connection per message (as a mail
# gateway does), the captured message in 64 KiB chunks. Every scan gets its own Message-Id, as
# smtp-source's messages do: clamd caches clean results by hash, and the very same bytes again
# and again would measure its cache, not its scanning (SAME=1 shows that figure too).
# Prints "scans_per_s scans errors".
cat >"$WORK/instream.py" <<'PY'
import os, re, socket, struct, sys, threading, time
via, addr, path, sessions, secs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
same = len(sys.argv) > 6 and sys.argv[6] == "same"
msg = open(path, "rb").read()
m = re.search(rb"^Message-Id: [^\r\n]*\r\n", msg, re.M | re.I)
head, tail = (msg[:m.start()], msg[m.end():]) if m else (b"", msg)
def frame(body):
    return b"zINSTREAM\0" + b"".join(
        struct.pack(">I", len(body[i:i + 65536])) + body[i:i + 65536] for i in range(0, len(body), 65536)
    ) + b"\0\0\0\0"
fixed = frame(msg)
def connect():
    if via == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(addr)
    else:
        host, port = addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port))); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(30)
    return s
ok = [0] * sessions; bad = [0] * sessions
stop = time.monotonic() + secs
def loop(i):
    for n in range(10_000_000):
        if time.monotonic() >= stop:
            return
        payload = fixed if same else frame(head + b"Message-Id: <%d.%d.%d@av-compare>\r\n" % (os.getpid(), i, n) + tail)
        try:
            s = connect(); s.sendall(payload)
            reply = b""
            while not reply.endswith(b"\0"):
                chunk = s.recv(4096)
                if not chunk: break
                reply += chunk
            s.close()
            if time.monotonic() > stop:
                return
            if reply.startswith(b"stream: OK"): ok[i] += 1
            else: bad[i] += 1
        except OSError:
            bad[i] += 1
t0 = time.monotonic()
ts = [threading.Thread(target=loop, args=(i,)) for i in range(sessions)]
for t in ts: t.start()
for t in ts: t.join(secs + 35)
el = time.monotonic() - t0
print("%.1f %d %d" % (sum(ok) / min(el, secs), sum(ok), sum(bad)))
PY
instream() { # [same]
    local addr c0 i0 c1 i1 out
    if [ "$AV_VIA" = unix ]; then addr=$CLAMD_SOCK; else addr=127.0.0.1:$CLAMD_PORT; fi
    timeout $((WARM + 35)) python3 "$WORK/instream.py" "$AV_VIA" "$addr" "$WORK/message.eml" "$SESSIONS" "$WARM" "${1:-}" >/dev/null
    sleep 1
    read -r c0 _ i0 <<<"$(snap instream)"
    out=$(timeout $((SECS + 35)) python3 "$WORK/instream.py" "$AV_VIA" "$addr" "$WORK/message.eml" "$SESSIONS" "$SECS" "${1:-}")
    read -r c1 _ i1 <<<"$(snap instream)"
    echo "$out $((c1 - c0)) 0 $((i1 - i0)) $SECS"
}

echo "av_compare: $SESSIONS sessions, ${SIZE}-byte payload (${MSG_BYTES}-byte message), ${SECS} s per row, locthu->clamd via $AV_VIA, $(nproc) CPUs, $(date -u +%FT%TZ)"
declare -A RATE
NCPU=$(nproc)
row() { # key label result
    local rate n e c p i secs
    read -r rate n e c p i secs <<<"$3"
    RATE[$1]=$rate
    awk -v label="$2" -v r="$rate" -v n="$n" -v e="$e" -v b="$MSG_BYTES" -v c="$c" -v p="$p" -v i="$i" \
        -v s="$secs" -v tck="$TCK" -v key="$1" -v ncpu="$NCPU" 'BEGIN {
        cm = n > 0 ? sprintf("%.2f", c * 1000 / tck / n) : "-"
        pm = (n > 0 && key !~ /^(direct|instream|instream2|same)$/) ? sprintf("%.2f", p * 1000 / tck / n) : "-"
        printf "%-44s %9.1f %7d %6d %7.1f %9s %9s %6.0f%%\n", label, r, n, e, r * b / 1e6, cm, pm, 100 * i / tck / s / ncpu }'
}
echo "checked before timing (EICAR attachment stopped, clean message delivered): ${SANE[*]:-none}"
printf '%-44s %9s %7s %6s %7s %9s %9s %7s\n' setup msg/s msgs errors MB/s clamd_ms proxy_ms idle
printf '%-44s %9s %7s %6s %7s %9s %9s %7s\n' "" "" "" "" "" "CPU/msg" "CPU/msg" "CPU"
# The INSTREAM loop and locthu run twice, around the others (loop, locthu, ..., locthu, loop):
# on a shared machine the load drifts, and the ratios use the means.
row direct "smtp-source -> smtp-sink (no scanning)" "$(measure direct "$SINK_PORT")"
alive proxy && row proxy "locthu, no scanning (proxy alone)" "$(measure proxy "$GW0_PORT")"
row instream "clamd INSTREAM loop ($SESSIONS streams, $AV_VIA)" "$(instream)"
alive av && row locthu "locthu antivirus, inspect off" "$(measure locthu "$GW_PORT")"
alive inspect && row locthu_i "locthu antivirus + inspect" "$(measure locthu_i "$GW2_PORT")"
row clamsmtp "clamsmtpd" "$(measure clamsmtp "$CLAMSMTP_PORT")"
row amavis "amavisd-new (ClamAV-clamd)" "$(measure amavis "$AMAVIS_PORT")"
alive av && row locthu2 "locthu antivirus, inspect off (again)" "$(measure locthu "$GW_PORT")"
row instream2 "clamd INSTREAM loop (again)" "$(instream)"
[ -n "${SAME:-}" ] && row same "  same loop, identical bytes (clamd's cache)" "$(instream same)"
alive av || true

awk -v l1="${RATE[locthu]:-0}" -v l2="${RATE[locthu2]:-0}" -v li="${RATE[locthu_i]:-0}" -v c="${RATE[clamsmtp]:-0}" \
    -v a="${RATE[amavis]:-0}" -v i1="${RATE[instream]:-0}" -v i2="${RATE[instream2]:-0}" 'BEGIN {
    l = (l1 + l2) / 2; i = (i1 + i2) / 2
    best = c > a ? c : a; name = c > a ? "clamsmtpd" : "amavisd-new"
    r1 = best > 0 ? l / best : 0; r2 = i > 0 ? l / i : 0
    printf "\nlocthu antivirus (mean of 2: %.1f msg/s), INSTREAM loop (mean of 2: %.1f msg/s)\n", l, i
    printf "locthu / better peer (%s):  %.2f   target >= 3.0  %s\n", name, r1, (r1 >= 3 ? "met" : "NOT met")
    printf "locthu / INSTREAM loop:              %.2f   target >= 0.7  %s\n", r2, (r2 >= 0.7 ? "met" : "NOT met")
    printf "locthu antivirus + inspect:          %.2f of the better peer, %.2f of the INSTREAM loop\n", (best > 0 ? li / best : 0), (i > 0 ? li / i : 0)
    printf "better peer / INSTREAM loop:         %.2f   (so at most %.2f is possible for locthu / better peer while clamd is the limit)\n", (i > 0 ? best / i : 0), (best > 0 ? i / best : 0)
}'

if [ -n "${CLAMD_LOOP:-}" ]; then
    echo
    echo "benches/clamd_loop.rs against the same clamd (its own MIME message, TCP):"
    CLAMD=127.0.0.1:$CLAMD_PORT SESSIONS=$SESSIONS SIZE=$SIZE SECS=$SECS timeout $((4 * SECS + 600)) \
        cargo bench -q --bench clamd_loop 2>&1 | grep -v '^$' | sed 's/^/  /'
fi
