#!/usr/bin/env bash
# Throughput of one clamd: a plain INSTREAM loop beside locthu's antivirus check, same messages,
# same clamd, same run (see benches/clamd_loop.rs). Starts a throwaway clamd with a tiny EICAR
# database on a loopback port unless CLAMD=host:port names one already running.
#   benches/clamd_loop.sh                       # 20 sessions, 100 kB messages, 10 s per run
#   SESSIONS=20 SIZE=100000 SECS=10 CLAMD=127.0.0.1:3310 benches/clamd_loop.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ping_clamd() { # host port -> 0 when clamd answers PONG
    { exec 3<>"/dev/tcp/$1/$2"; } 2>/dev/null || return 1
    printf 'zPING\0' >&3
    local reply
    IFS= read -r -d '' -t 2 reply <&3 || true
    exec 3<&-
    [ "$reply" = PONG ]
}

if [ -z "${CLAMD:-}" ]; then
    clamd_bin=${LOCTHU_CLAMD:-/usr/sbin/clamd}
    [ -x "$clamd_bin" ] || { echo "clamd not found at $clamd_bin: apt-get install clamav-daemon" >&2; exit 1; }
    dir=$(mktemp -d)
    pid=
    trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
    mkdir "$dir/db"
    echo '44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature' > "$dir/db/eicar.hdb"
    port=$(( 20000 + RANDOM % 30000 ))
    cat > "$dir/clamd.conf" <<CONF
Foreground yes
DatabaseDirectory $dir/db
TCPSocket $port
TCPAddr 127.0.0.1
TemporaryDirectory $dir
LogFile $dir/clamd.log
StreamMaxLength 25M
CONF
    "$clamd_bin" -c "$dir/clamd.conf" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 300); do ping_clamd 127.0.0.1 "$port" && break; sleep 0.1; done
    ping_clamd 127.0.0.1 "$port" || { echo "clamd did not start:" >&2; cat "$dir/clamd.log" >&2; exit 1; }
    export CLAMD=127.0.0.1:$port
fi
cargo bench --bench clamd_loop
