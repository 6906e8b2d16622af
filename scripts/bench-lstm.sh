#!/usr/bin/env bash
# omen's LSTM benchmark and the PyTorch peer (../shared/peers/lstm_torch.py)
# in one command, alternating runs so both see the same machine load.
# Prints every JSON line, then the medians and the omen/peer ratios.
# Usage: scripts/bench-lstm.sh [runs]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
peer=${PEER:-../shared/peers/lstm_torch.py}
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch libopenblas0-pthread >/dev/null
fi
go build -o /tmp/omen-bench ./cmd/omen
out=$(mktemp)
for i in $(seq "$runs"); do
  /tmp/omen-bench bench lstm --features 38 --hidden 64 --window 32 --batch 256 --json | tee -a "$out"
  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$peer" --features 38 --hidden 64 --window 32 --batch 256 | tee -a "$out"
done
/usr/bin/python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
keys = ["train_windows_per_s", "infer_windows_per_s", "infer_latency_us"]
med = {}
for who in ("omen", "pytorch"):
    rs = [r for r in rows if r.get("peer") == who]
    med[who] = {k: statistics.median(r[k] for r in rs) for k in keys}
    print(f"median {who}: " + json.dumps(med[who]))
o, p = med["omen"], med["pytorch"]
print(json.dumps({
    "train_ratio": round(o["train_windows_per_s"] / p["train_windows_per_s"], 3),
    "infer_ratio": round(o["infer_windows_per_s"] / p["infer_windows_per_s"], 3),
    "latency_ratio_peer_over_omen": round(p["infer_latency_us"] / o["infer_latency_us"], 3),
}))
PY
