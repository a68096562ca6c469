#!/usr/bin/env bash
# Brings fleetlog up on this machine: a collector on its embedded defaults and one agent.
#   ./run.sh                      tail ./fleetlog-sample, filled with generated store/POS logs
#   ./run.sh '/var/log/app/*.log' tail the paths you name (globs, repeatable)
# Ctrl-C stops everything. Data stays in ./fleetlog-data (collector) and
# ./fleetlog-agent-data (agent buffer), so a second run resumes where this one stopped.
set -euo pipefail
cd "$(dirname "$0")"

cargo build --release --bins -p fleetlog-collector -p fleetlog-agent -p fleetlog-tests
bin="${CARGO_TARGET_DIR:-target}/release"
[ -x "$bin/fleetlog-collector" ] || bin="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release"

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

"$bin/fleetlog-collector" serve &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fsS http://127.0.0.1:8080/healthz >/dev/null 2>&1 && break
  sleep 0.1
done

paths=("$@")
if [ ${#paths[@]} -eq 0 ]; then
  mkdir -p fleetlog-sample
  "$bin/fleetlog-sample" --dir fleetlog-sample --rate 20 &
  pids+=($!)
  paths=("$PWD/fleetlog-sample/**/*.log")
fi
path_args=()
for p in "${paths[@]}"; do path_args+=(--path "$p"); done

"$bin/fleetlog-agent" run --collector 127.0.0.1:4433 \
  --token-file fleetlog-data/agent-token --ca fleetlog-data/ca.pem \
  --data-dir fleetlog-agent-data "${path_args[@]}" &
pids+=($!)

cat <<MSG

fleetlog is up.
  hosts: curl -H "Authorization: Bearer \$(cat fleetlog-data/admin-token)" http://127.0.0.1:8080/api/v1/hosts
  lines: curl -H "Authorization: Bearer \$(cat fleetlog-data/admin-token)" "http://127.0.0.1:8080/api/v1/lines?host=$(cat /proc/sys/kernel/hostname)&limit=20"
Ctrl-C stops it.
MSG
wait
