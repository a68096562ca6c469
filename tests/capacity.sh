#!/usr/bin/env bash
# Capacity bench (BENCHMARKS.md "Capacity"): one release collector on SQLite or PostgreSQL,
# fleetlog-loadgen with N simulated agents against it, on this machine.
#   cargo build --release -p fleetlog-collector -p fleetlog-tests --bin fleetlog-collector --bin fleetlog-loadgen
#   tests/capacity.sh sqlite|postgres AGENTS [loadgen flags...]
# PostgreSQL: a fresh database on $FLEETLOG_BENCH_POSTGRES (default
# postgres://postgres@127.0.0.1:5432), dropped afterwards. Prints the loadgen report, then
# the collector's CPU seconds and peak RSS.
set -euo pipefail
store=${1:?sqlite or postgres}
agents=${2:?number of agents}
shift 2
bin=${CARGO_TARGET_DIR:-$(dirname "$0")/../target}/${FLEETLOG_BENCH_PROFILE:-release}
work=$(mktemp -d)
db=""
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  [ -n "$db" ] && psql -q "${FLEETLOG_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}/postgres" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http=$(port)
quic=$(port)
env=(FLEETLOG_DATA_DIR="$work/data" FLEETLOG_HTTP_LISTEN="127.0.0.1:$http" FLEETLOG_QUIC_LISTEN="127.0.0.1:$quic"
  RUST_LOG=warn)
if [ "$store" = postgres ]; then
  base=${FLEETLOG_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
  db=fleetlog_capacity_$$
  psql -q "$base/postgres" -c "CREATE DATABASE $db" >/dev/null
  env+=(FLEETLOG_STORE_URL="$base/$db")
fi
env "${env[@]}" "$bin/fleetlog-collector" serve >"$work/collector.log" 2>&1 &
pid=$!
for _ in $(seq 1 150); do
  "$bin/fleetlog-collector" probe "http://127.0.0.1:$http/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
cpu() { awk '{print ($14 + $15) / 100}' "/proc/$pid/stat"; }
before=$(cpu)
"$bin/fleetlog-loadgen" --collector "127.0.0.1:$quic" --server-name localhost --data-dir "$work/data" \
  --agents "$agents" "$@"
after=$(cpu)
echo "  collector ($store): $(python3 -c "print(round($after - $before, 1))") CPU-s during the run, peak RSS $(awk '/VmHWM/ {print int($2/1024)}' "/proc/$pid/status") MiB, load average $(cut -d' ' -f1-3 /proc/loadavg)"
grep -ciE 'error|panic' "$work/collector.log" | xargs -I{} echo "  collector log lines with error/panic: {}"
