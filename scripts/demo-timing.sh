#!/usr/bin/env bash
# Measures how long "omen demo" takes from start until its first alert is
# in a real Alertmanager (issue 6: within four minutes on the 2-core
# machine). Starts Debian's Alertmanager on a free loopback port with a
# temporary directory, runs the demo against it, polls Alertmanager's API
# every second, prints one JSON line and stops both.
# Usage: scripts/demo-timing.sh [extra omen demo flags]
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

go build -o "$tmp/omen" ./cmd/omen
am="127.0.0.1:$(port)"
cat >"$tmp/am.yml" <<'EOF'
route: {receiver: default, group_wait: 1s, group_interval: 1s}
receivers: [{name: default}]
EOF
/usr/bin/prometheus-alertmanager --config.file="$tmp/am.yml" --storage.path="$tmp/am" \
  --web.listen-address="$am" --cluster.listen-address= --log.level=warn >"$tmp/am.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -fs "http://$am/-/ready" >/dev/null && break; sleep 0.2; done

start=$(date +%s.%N)
"$tmp/omen" demo --alertmanager.url="http://$am" --storage.path="$tmp/data" \
  --web.listen-address="127.0.0.1:$(port)" --nats.listen-address="127.0.0.1:$(port)" "$@" >"$tmp/demo.log" 2>&1 &
pids+=($!)
while :; do
  if ! kill -0 "${pids[1]}" 2>/dev/null; then
    echo "omen demo exited:" >&2; tail -20 "$tmp/demo.log" >&2; exit 1
  fi
  n=$(curl -fs "http://$am/api/v2/alerts?filter=alertname%3D%22ModuleLoadFailurePredicted%22" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' || echo 0)
  if [ "$n" -gt 0 ]; then break; fi
  sleep 1
done
now=$(date +%s.%N)
printed=$(grep -c '^ALERT' "$tmp/demo.log" || true)
python3 -c "import json; print(json.dumps({'first_alert_in_alertmanager_s': round($now-$start,1), 'alerts_printed': $printed, 'load1': float(open('/proc/loadavg').read().split()[0])}))"
grep -E '^(history|training|live)' "$tmp/demo.log" >&2 || true
