#!/usr/bin/env bash
# Load comparison, in one run: smtp-source straight to smtp-sink (the limit), and the same load
# through locthu to the same smtp-sink. Prints messages/s, MB/s and the ratio to direct, then the
# peak RSS of locthu while 100 sessions each send a 25 MB message.
#
#   cargo build --release && benches/load.sh
#
# Needs postfix (smtp-source, smtp-sink). Everything runs on loopback; every loop is bounded.
# Absolute numbers on a shared 2-core machine are noise: the ratios are the figure.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${LOCTHU_BIN:-target/release/locthu}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v smtp-source >/dev/null || PATH=$PATH:/usr/sbin
command -v smtp-source >/dev/null || { echo "smtp-source missing: apt-get install postfix" >&2; exit 1; }

WORK=$(mktemp -d)
SINK_PORT=${SINK_PORT:-10925}
GW_PORT=${GW_PORT:-10926}
ADMIN_PORT=${ADMIN_PORT:-10927}
USER_OPT=(); [ "$(id -u)" = 0 ] && USER_OPT=(-u postfix)
cleanup() { kill "${GW_PID:-}" "${SINK_PID:-}" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

smtp-sink "${USER_OPT[@]}" 127.0.0.1:$SINK_PORT 256 >/dev/null 2>&1 &
SINK_PID=$!
cat >"$WORK/locthu.toml" <<TOML
[server]
spool_dir = "$WORK"
[[listener]]
name = "bench"
address = "127.0.0.1:$GW_PORT"
role = "outbound"
[listener.upstream]
address = "127.0.0.1:$SINK_PORT"
tls = "off"
[limits]
message_size = "30MB"
max_connections_per_ip = 200
[admin]
listen = "127.0.0.1:$ADMIN_PORT"
[log]
level = "warn"
# The proxy alone, with only the size check, as the target is stated; INSPECT=1 turns the MIME
# walk on to see its cost.
[inspect]
enabled = $([ -n "${INSPECT:-}" ] && echo true || echo false)
TOML
"$BIN" serve --config "$WORK/locthu.toml" 2>"$WORK/locthu.log" &
GW_PID=$!
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/$GW_PORT) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/$SINK_PORT) 2>/dev/null && break
  sleep 0.1
done

# run PORT SESSIONS COUNT SIZE [extra smtp-source flags] -> seconds
run() {
  local port=$1 sessions=$2 count=$3 size=$4; shift 4
  local t0 t1
  t0=$(date +%s.%N)
  timeout 600 smtp-source "$@" -s "$sessions" -m "$count" -l "$size" -f bench@example.gov.vn -t sink@example.gov.vn "127.0.0.1:$port"
  t1=$(date +%s.%N)
  echo "$t0 $t1" | awk '{printf "%.3f", $2 - $1}'
}

printf '%-7s %-9s %-9s %12s %10s %12s %10s %7s\n' size sessions mode direct_msg/s MB/s locthu_msg/s MB/s ratio
# size count sessions mode
while read -r size count sessions mode; do
  flags=(); [ "$mode" = reuse ] && flags=(-d)
  d=$(run $SINK_PORT "$sessions" "$count" "$size" "${flags[@]}")
  g=$(run $GW_PORT "$sessions" "$count" "$size" "${flags[@]}")
  awk -v s="$size" -v n="$count" -v ss="$sessions" -v m="$mode" -v d="$d" -v g="$g" 'BEGIN {
    printf "%-7s %-9s %-9s %12.0f %10.1f %12.0f %10.1f %7.2f\n",
      (s >= 1000000 ? s/1000000 "MB" : s/1000 "KB"), ss, m, n/d, n*s/d/1e6, n/g, n*s/g/1e6, d/g }'
done <<'RUNS'
2000 5000 1 reuse
2000 10000 20 reuse
2000 2000 1 conn/msg
2000 5000 20 conn/msg
100000 1000 1 reuse
100000 2000 20 reuse
5000000 40 1 reuse
5000000 100 20 reuse
RUNS

# Peak memory: 100 sessions at once, each one 25 MB message.
run $GW_PORT 100 100 25000000 >/dev/null
peak=$(awk '/VmHWM/ {print $2}' /proc/$GW_PID/status)
echo "locthu peak RSS with 100 concurrent 25 MB messages: $((peak / 1024)) MB"
