#!/usr/bin/env bash
# The README's test command: installs what the tests need on a fresh Debian
# machine with Go, then runs every test. Usage: scripts/test.sh [go test args]
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/bin/prometheus ] || need+=(prometheus)
[ -x /usr/bin/prometheus-alertmanager ] || need+=(prometheus-alertmanager)
[ -x /usr/sbin/nats-server ] || need+=(nats-server)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/systemd-analyze ] || need+=(systemd)   # deploy's systemd-analyze verify
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The Debian packages start their services; the tests start their own on
# random loopback ports, so the system ones are not needed.
for svc in prometheus prometheus-alertmanager prometheus-node-exporter nats-server; do
  systemctl stop "$svc" >/dev/null 2>&1 || true
done

go version
go vet ./...
# House rules the linters do not check: every package has a doc.go, and no
# test skips itself (a missing component is installed above, not skipped).
missing=""
for d in $(go list -f '{{.Dir}}' ./...); do
  [ -f "$d/doc.go" ] || missing+=" ${d#"$PWD"/}"
done
[ -z "$missing" ] || { echo "packages without a doc.go:$missing"; exit 1; }
if grep -rnE --include='*_test.go' '\bt\.(Skip|SkipNow|Skipf)\(' .; then
  echo "tests must not skip themselves"; exit 1
fi
# Lint with the configuration in .golangci.yml (installed on first use).
lint="$(go env GOPATH)/bin/golangci-lint"
if ! "$lint" version 2>/dev/null | grep -q "version 2.15.0"; then
  echo "installing golangci-lint v2.15.0"
  go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
fi
"$lint" run ./...
go test -count=1 -timeout 40m "$@" ./...
# Every benchmark once, so that none rots (figures: docs/PERFORMANCE.md;
# about a minute); the output only when one fails.
if ! out="$(go test -count=1 -run '^$' -bench . -benchtime 1x ./... 2>&1)"; then
  echo "$out"
  exit 1
fi
echo "benchmarks: every one ran once"
