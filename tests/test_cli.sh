#!/usr/bin/env bash
# The clformer command's behaviour on good and bad input: exit codes and the messages a user reads.
# Usage: test_cli.sh PATH/TO/clformer
set -u
clf=$1
dir=$(mktemp -d /tmp/clformer-test-cli-XXXXXX)
trap 'rm -rf "$dir"' EXIT
. "$(dirname "$0")/expect.sh"

# commands and flags
expect 2 'usage: clformer COMMAND' -- "$clf"
expect 2 "unknown command 'nosuch'" -- "$clf" nosuch
expect 0 'train' -- "$clf" --help
expect 0 '--d-model' -- "$clf" train --help
expect 2 "unknown flag '--bogus'" -- "$clf" train --bogus
expect 2 "--steps expects an integer, got 'ten'" -- "$clf" train --steps ten
expect 2 '--dropout must be between' -- "$clf" train --dropout 1.5
expect 2 'n_heads 3 does not divide d_model 128' -- "$clf" train --n-heads 3 --d-model 128
expect 2 "schedule 'fast' is not one of" -- "$clf" train --schedule fast
expect 2 '--steps needs a value' -- "$clf" train --steps

# devices
expect 0 '"name"' -- "$clf" devices --json
"$clf" devices --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d) >= 1 and all("max_alloc" in x for x in d)' \
  && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: devices --json does not parse"; }
expect nonzero "no device matches 'nosuchdevice'.*devices present" -- "$clf" devices --device nosuchdevice
expect 0 'compute units' -- "$clf" devices --device any
n=$(POCL_DEVICES="pthread basic" "$clf" devices --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
if [ "$n" = 2 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: two PoCL devices listed as $n"; fi

mkdir -p "$dir/no-vendors"
expect 1 'no OpenCL platform found.*pocl-opencl-icd' -- env OCL_ICD_VENDORS="$dir/no-vendors" "$clf" devices

# data files
expect nonzero '/nonexistent/pairs.tsv' -- "$clf" train --data /nonexistent/pairs.tsv --out "$dir/run"
printf 'abc\tcba\nno tab here\nxy\tyx\n' > "$dir/bad.tsv"
expect nonzero 'bad.tsv:2' -- "$clf" train --data "$dir/bad.tsv" --out "$dir/run"
expect nonzero "task 'nosuch'|nosuch" -- "$clf" train --task nosuch --out "$dir/run"

# a tiny run, then the commands that read its checkpoint
expect 0 'exact match: [0-9.]+%' -- "$clf" train --steps 3 --d-model 16 --n-heads 2 --d-ff 16 --eval-every 0 --samples 1 --out "$dir/run"
ck=$dir/run/last.safetensors
[ -s "$ck" ] && [ -s "$dir/run/metrics.csv" ] && [ -s "$dir/run/loss.svg" ] && passed=$((passed + 1)) \
  || { failed=$((failed + 1)); echo "FAIL: train left no checkpoint, metrics.csv or loss.svg"; }
expect 0 'resumed from .* at step 3' -- "$clf" train --resume "$ck" --steps 4 --recompute --eval-every 0 --samples 0 --out "$dir/run"
expect nonzero 'nothing to train' -- "$clf" train --resume "$ck" --steps 4 --out "$dir/run"
expect nonzero 'd_model is 16 in the checkpoint but 32 here' -- "$clf" train --resume "$ck" --d-model 32 --steps 9 --out "$dir/run"
expect 0 'exact match' -- "$clf" eval --checkpoint "$ck"
expect nonzero '/nonexistent.safetensors' -- "$clf" eval --checkpoint /nonexistent.safetensors
printf 'not a checkpoint' > "$dir/junk.safetensors"
expect nonzero 'junk.safetensors' -- "$clf" eval --checkpoint "$dir/junk.safetensors"
expect 0 '' -- sh -c "printf 'abc\n' | '$clf' generate --checkpoint '$ck' --max-tokens 4"
expect 0 '' -- sh -c "printf 'abc\n' | '$clf' generate --checkpoint '$ck' --max-tokens 4 --beam 3 --length-penalty 0.6"
expect 2 '--beam must be between 1' -- "$clf" generate --checkpoint "$ck" --beam 0

# grad: a batch file (safetensors, I32), the dump, and an id out of range
python3 - "$dir" <<'PY'
import json, struct, sys
def write(path, tensors):
    header, data = {}, b""
    for name, (shape, values) in tensors.items():
        raw = struct.pack("<%di" % len(values), *values)
        header[name] = {"dtype": "I32", "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + data)
src = [97, 98, 99, 256, 120, 121, 256, 256]
tin = [257, 99, 98, 257, 121, 256]
tout = [99, 98, 258, 121, 258, 256]
write(sys.argv[1] + "/batch.safetensors", {"src": ([2, 4], src), "tgt_in": ([2, 3], tin), "tgt_out": ([2, 3], tout)})
write(sys.argv[1] + "/bad_batch.safetensors", {"src": ([2, 4], src[:5] + [300] + src[6:]), "tgt_in": ([2, 3], tin), "tgt_out": ([2, 3], tout)})
PY
expect 0 'loss [0-9.]+ over 5 target tokens' -- "$clf" grad --checkpoint "$ck" --batch "$dir/batch.safetensors" --out "$dir/grad.safetensors" --label-smoothing 0.1
python3 - "$dir/grad.safetensors" <<'PY' && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: the gradient dump lacks tensors"; }
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n])
assert h["loss"]["shape"] == [] and h["logits"]["shape"] == [2, 3, 259], h["logits"]
assert "grad.generator.weight" in h and "grad.encoder.layers.0.self_attn.q.weight" in h
PY
expect nonzero "value 300 at" -- "$clf" grad --checkpoint "$ck" --batch "$dir/bad_batch.safetensors" --out "$dir/g2.safetensors"
expect nonzero 'required' -- "$clf" grad --checkpoint "$ck"

finish cli
