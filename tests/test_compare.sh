#!/usr/bin/env bash
# clformer compare on two PoCL devices: both columns in every format (table, JSON, CSV, HTML), the
# page rendered by headless Chromium, a selector that matches nothing, and a device made to fail by
# fault injection while the other one is still measured.
# Usage: test_compare.sh PATH/TO/clformer
set -u
clf=$1
dir=$(mktemp -d /tmp/clformer-test-compare-XXXXXX)
trap 'rm -rf "$dir"' EXIT
. "$(dirname "$0")/expect.sh"
export POCL_DEVICES="pthread basic"
unset CLFORMER_FAULT CLFORMER_DEVICE

# flags and selectors
expect 0 'exit status: 0 every device ran' -- "$clf" compare --help
expect 0 'compare' -- "$clf" --help
expect 2 "no device matches 'nosuchdevice'.*devices present" -- "$clf" compare --devices nosuchdevice
expect 2 "no device matches 'nosuchdevice'" -- "$clf" compare --devices pthread,nosuchdevice
expect 2 '--quick and --tiny' -- "$clf" compare --quick --tiny
printf 'not json' > "$dir/junk.json"
expect 2 'baseline: .*junk.json' -- "$clf" compare --baseline "$dir/junk.json"
expect 2 'baseline: .*nosuch.json' -- "$clf" compare --baseline "$dir/nosuch.json"

# both devices, every format
out=$("$clf" compare --tiny --json "$dir/c.json" --csv "$dir/c.csv" --html "$dir/c.html" 2>"$dir/progress"); rc=$?
if [ "$rc" -eq 0 ]; then pass; else fail "compare --tiny exited $rc"; printf '%s\n' "$out"; cat "$dir/progress"; fi
grep -q 'numerical agreement with the float64' "$dir/progress" && grep -q 'kernel benchmarks' "$dir/progress" \
  && pass || fail "no progress lines on stderr"
for dev in basic pthread; do
  printf '%s' "$out" | head -n 8 | grep -q "$dev" && pass || fail "the table has no column for $dev"
done
printf '%s' "$out" | grep -Eq '^  training step, target tokens/s +[0-9.]+ tok/s.* [0-9.]+ tok/s' && pass \
  || fail "the table lacks the training row of both devices"
printf '%s' "$out" | grep -Eq ' \*' && pass || fail "no best figure is marked in the table"

# the JSON parses and holds every row, filled for both devices and none failed
python3 - "$dir/c.json" <<'PY' && pass || fail "the JSON lacks rows or columns"
import json, sys
d = json.load(open(sys.argv[1]))
assert [x["selector"] for x in d["devices"]] and len(d["devices"]) == 2, d["devices"]
names = " ".join(x["name"] for x in d["devices"])
assert "pthread" in names and "basic" in names, names
rows = {r["key"]: r for r in d["rows"]}
need = ["status/device", "device/name", "device/compute_units", "device/global_mem", "builds/cold", "builds/cached",
        "limits/copy", "limits/gemm", "model/train_tokens_per_s", "model/gen_tokens_per_s", "model/peak_mib",
        "losses/final", "losses/vs_first"]
need += ["accuracy/" + f for f in ("linear", "attention", "layernorm", "cross_entropy", "adamw", "embedding",
                                   "residual_dropout")]
missing = [k for k in need if k not in rows]
assert not missing, missing
for prefix in ("kernel/linear", "kernel/attention_fused_fwd_bwd", "kernel/layernorm", "kernel/cross_entropy",
               "kernel/adamw"):
    assert any(k.startswith(prefix) for k in rows), prefix
for k, r in rows.items():
    assert len(r["cells"]) == 2, k
    for c in r["cells"]:
        assert not c["failed"], (k, c)
        if k.split("/")[0] in ("builds", "limits", "model", "accuracy", "losses"):
            assert c["value"] is not None, (k, c)
assert len(d["devices"][0]["losses"]) >= 20 and not d["failed"]
assert any(c["best"] for c in rows["model/train_tokens_per_s"]["cells"])
PY

# CSV: a header naming both devices and one line per JSON row
python3 - "$dir/c.csv" "$dir/c.json" <<'PY' && pass || fail "the CSV does not match the JSON"
import csv, json, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
head = " ".join(rows[0])
assert "pthread" in head and "basic" in head and len(rows[0]) == 5 + 2 * 3, rows[0]
assert len(rows) - 1 == len(json.load(open(sys.argv[2]))["rows"])
assert all(len(r) == len(rows[0]) for r in rows)
PY

# HTML: self-contained (no script, nothing fetched), rendered by Chromium with the table and charts
! grep -Ei '<script|<link|src=' "$dir/c.html" >/dev/null && pass || fail "the page loads something"
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "SKIP: no chromium: the page is not rendered"
else
  flags=(--headless --no-sandbox --disable-gpu --window-size=1400,2000)
  timeout 180 "$browser" "${flags[@]}" --dump-dom "file://$dir/c.html" > "$dir/dom.html" 2>/dev/null
  python3 - "$dir/dom.html" <<'PY' && pass || fail "the rendered page lacks the table or a chart"
import sys
dom = open(sys.argv[1]).read()
assert dom.count("<table") == 1 and dom.count("<svg") >= 4 and "<rect" in dom, len(dom)
assert "pthread" in dom and "basic" in dom and "training step, target tokens/s" in dom
PY
  timeout 180 "$browser" "${flags[@]}" --screenshot="$dir/c.png" "file://$dir/c.html" >/dev/null 2>&1
  python3 - "$dir/c.png" <<'PY' && pass || fail "the screenshot is missing or blank"
import sys, zlib, struct
raw = open(sys.argv[1], "rb").read()
assert raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > 30000, len(raw)
# decode the image (8-bit RGB(A), no interlace) and count its colors: text, bars and table, not one fill
w, h, depth, ctype = struct.unpack(">IIBB", raw[16:26])
pos, data = 8, b""
while pos < len(raw):
    n, kind = struct.unpack(">I4s", raw[pos:pos + 8])
    if kind == b"IDAT": data += raw[pos + 8:pos + 8 + n]
    pos += 12 + n
px = zlib.decompress(data)
bpp = 4 if ctype == 6 else 3
colors = {px[i:i + 3] for i in range(1, len(px) - 3, 97) if (i % (w * bpp + 1)) != 0}
assert depth == 8 and len(colors) > 50, (depth, len(colors))
PY
fi

# a device made to fail: its column says so, the other is filled, the exit code is non-zero; the
# first run is the baseline
out=$(CLFORMER_FAULT=device=basic,build=* "$clf" compare --tiny --no-color --json "$dir/f.json" \
      --baseline "$dir/c.json" 2>"$dir/progress"); rc=$?
if [ "$rc" -eq 1 ]; then pass; else fail "a failed device gave exit $rc, not 1"; printf '%s\n' "$out"; fi
printf '%s' "$out" | grep -Eq 'result +FAILED' && pass || fail "the table does not show the failed device"
printf '%s' "$out" | grep -q 'build failure injected by CLFORMER_FAULT' && pass || fail "the failure text is not shown"
python3 - "$dir/f.json" <<'PY' && pass || fail "the JSON of the faulty run is wrong"
import json, sys
d = json.load(open(sys.argv[1]))
devs = d["devices"]
b = [i for i, x in enumerate(devs) if "basic" in x["name"]][0]
p = 1 - b
assert devs[b]["failed"] and not devs[p]["failed"] and d["failed"]
rows = {r["key"]: r for r in d["rows"]}
assert rows["status/device"]["cells"][b]["failed"]
assert "injected" in rows["builds/cold"]["cells"][b]["text"]
assert rows["model/train_tokens_per_s"]["cells"][b]["value"] is None
for k in ("model/train_tokens_per_s", "accuracy/attention", "builds/cached", "limits/copy"):
    c = rows[k]["cells"][p]
    assert c["value"] is not None and not c["failed"], (k, c)
    assert c.get("baseline") is not None, ("no baseline", k, c)
PY

finish compare
