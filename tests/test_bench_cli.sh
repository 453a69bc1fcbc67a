#!/usr/bin/env bash
# `clformer bench --train`: flags, the figures it prints, its JSON, and errors for bad options.
# Usage: test_bench_cli.sh PATH/TO/clformer
set -u
clf=$1
dir=$(mktemp -d /tmp/clformer-test-bench-cli-XXXXXX)
trap 'rm -rf "$dir"' EXIT
. "$(dirname "$0")/expect.sh"

tiny=(--d-model 16 --n-heads 2 --d-ff 32 --n-enc-layers 1 --n-dec-layers 1 --steps 2 --warmup 1)

# flags
expect 0 '--gen-tokens' -- "$clf" bench --train --help
expect 0 '--lr-warmup' -- "$clf" bench --train --help
expect 2 "unknown flag '--bogus'" -- "$clf" bench --train --bogus
expect 2 '--batch must be between' -- "$clf" bench --train --batch -1
expect 2 '--tgt-len must be between' -- "$clf" bench --train --tgt-len 1
expect 2 'n_heads 3 does not divide d_model 16' -- "$clf" bench --train --d-model 16 --n-heads 3
expect 2 "schedule 'fast' is not one of" -- "$clf" bench --train --schedule fast

# bad options the library refuses
expect 1 'gen_tokens 9 outside \[1, max_len 8\]' -- "$clf" bench --train "${tiny[@]}" --arch decoder --batch 2 --tgt-len 8 --gen-batch 1 --gen-tokens 9
expect 1 "unknown task 'nosuch'" -- "$clf" bench --train "${tiny[@]}" --batch 0 --task nosuch

# an encoder-decoder run with generation, and its JSON
expect 0 'training: [0-9.]+ ms/step, [0-9]+ target tokens/s' -- "$clf" bench --train "${tiny[@]}" --batch 3 --src-len 7 \
  --tgt-len 5 --gen-batch 2 --gen-tokens 4 --json "$dir/encdec.json"
python3 - "$dir/encdec.json" <<'PY' && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: encdec.json"; }
import json, math, sys
d = json.load(open(sys.argv[1]))
for k in ("step_ms", "train_tokens_per_s", "gen_ms", "gen_tokens_per_s", "launches_per_step", "waits_per_step"):
    assert d[k] > 0 and math.isfinite(d[k]), k
assert d["peak_bytes"] >= 16 * d["params"] > 0
m = d["memory"]
assert m["params"] == m["grads"] == 4 * d["params"] and m["optimizer"] == 2 * m["params"], m
assert 0 < m["activations"] and sum(m.values()) <= d["peak_bytes"], (m, d["peak_bytes"])
assert len(d["losses"]) == 3 and all(math.isfinite(x) and x > 0 for x in d["losses"])
assert d["model"]["arch"] == "encdec" and d["batch"] == 3 and d["src_len"] == 7 and d["tgt_len"] == 5
s = d["startup"]
assert s["first_step_done_ms"] >= s["device_open_ms"] + s["setup_ms"] + s["first_step_ms"] > 0
PY

# decoder-only; the start-up line says which caches were on
expect 0 'model: decoder, d_model 16, 2 heads, d_ff 32, 1 layers' -- "$clf" bench --train "${tiny[@]}" --arch decoder --batch 2 --tgt-len 9 --steps 1
expect 0 'start-up: device open [0-9]+ ms, trainer [0-9]+ ms, first step [0-9]+ ms.*clformer cache off, PoCL cache on' -- \
  env CLFORMER_NO_CACHE=1 "$clf" bench --train "${tiny[@]}" --arch decoder --batch 2 --tgt-len 9 --gen-batch 2 --gen-tokens 9
expect 0 'per step: [0-9.]+ launches, [0-9.]+ host waits; peak device memory [0-9.]+ MiB' -- \
  "$clf" bench --train "${tiny[@]}" --arch decoder --batch 2 --tgt-len 9

expect 0 'memory: parameters [0-9.]+ \+ gradients [0-9.]+ \+ AdamW [0-9.]+ \+ activations kept for the backward [0-9.]+ = [0-9.]+ MiB; peak [0-9.]+x' -- \
  "$clf" bench --train "${tiny[@]}" --arch decoder --batch 2 --tgt-len 9 --recompute

# a built-in task instead of random tokens
expect 0 'batches: reverse, 128 tokens' -- "$clf" bench --train "${tiny[@]}" --batch 0 --task reverse --batch-tokens 128 --max-len 32

finish bench_cli
