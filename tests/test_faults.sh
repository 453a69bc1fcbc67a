#!/usr/bin/env bash
# Faults and bad input through the clformer command: bad flags and data files, hostile checkpoints,
# failing device allocations and kernel builds (CLFORMER_FAULT), a full disk while saving, kill -9
# in the middle of a save, SIGTERM and SIGINT, and non-finite gradients. Each must give a clear
# message and exit code, never a crash, and leave the last checkpoint intact and loadable.
# Usage: test_faults.sh PATH/TO/clformer
set -u
clf=$1
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/clformer-test-faults-XXXXXX)
trap 'rm -rf "$dir"' EXIT
tiny=(--d-model 16 --n-heads 2 --d-ff 16 --batch-tokens 200 --eval-every 0 --samples 0)

. "$(dirname "$0")/expect.sh"

# st.py meta FILE KEY | same FILE FILE | strip FILE OUT | flip FILE OUT | cut FILE OUT
cat > "$dir/st.py" <<'PY'
import json, struct, sys
def parse(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    return raw, n, json.loads(raw[8:8 + n])
def write(path, header, data):
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + data)
cmd, path = sys.argv[1], sys.argv[2]
raw, n, h = parse(path)
data = raw[8 + n:]
if cmd == "meta":
    print(h["__metadata__"].get(sys.argv[3], ""))
elif cmd == "same":  # every tensor of both files holds the same bytes
    raw2, n2, h2 = parse(sys.argv[3])
    names = sorted(k for k in h if k != "__metadata__")
    assert names == sorted(k for k in h2 if k != "__metadata__"), "different tensors"
    for k in names:
        a, b = h[k]["data_offsets"], h2[k]["data_offsets"]
        if data[a[0]:a[1]] != raw2[8 + n2 + b[0]:8 + n2 + b[1]]:
            sys.exit("tensor %s differs" % k)
elif cmd == "strip":  # the checksum taken out of the metadata
    del h["__metadata__"]["checksum"]
    write(sys.argv[3], h, data)
elif cmd == "flip":  # one bit of the data flipped
    d = bytearray(data); d[len(d) // 2] ^= 0x10
    open(sys.argv[3], "wb").write(raw[:8 + n] + bytes(d))
elif cmd == "cut":  # the last 100 bytes lost
    open(sys.argv[3], "wb").write(raw[:-100])
PY
st() { python3 "$dir/st.py" "$@"; }
loads() { "$clf" eval --checkpoint "$1" --no-exact > /dev/null 2>&1; }
no_temps() { ! ls "$1"/*.tmp.* > /dev/null 2>&1; }

# ---- bad flags -----------------------------------------------------------------------------
expect 2 '--max-bad-steps must be between 1' -- "$clf" train --max-bad-steps 0
expect 2 "--max-bad-steps expects an integer, got 'x'" -- "$clf" train --max-bad-steps x
expect 2 '--steps must be between 1' -- "$clf" train --steps -1
expect 2 '--batch-tokens must be between 1' -- "$clf" train --batch-tokens 0
expect 2 "--lr expects a number, got 'nan'" -- "$clf" train --lr nan
expect 2 "--clip expects a number, got 'inf'" -- "$clf" train --clip inf
expect 2 '--vocab-size must be between 259' -- "$clf" train --vocab-size 10
expect 2 '--label-smoothing must be between' -- "$clf" train --label-smoothing 1
expect 2 "--steps expects an integer, got '99999999999999999999999'" -- "$clf" train --steps 99999999999999999999999
expect 2 "unexpected argument 'extra'" -- "$clf" eval --checkpoint x extra
expect 1 'cannot open /nonexistent/ck.safetensors' -- "$clf" train --resume /nonexistent/ck.safetensors
expect 1 'cannot create the output folder /proc/clformer-run' -- "$clf" train --out /proc/clformer-run

# ---- bad data files ------------------------------------------------------------------------
: > "$dir/empty.tsv"
printf 'a\tb\tc\n' > "$dir/tabs.tsv"
printf '\tb\nab\tba\n' > "$dir/nosrc.tsv"
{ printf 'abc\tcba\n'; head -c 300 /dev/zero | tr '\0' x; printf '\tx\n'; } > "$dir/long.tsv"
printf 'ab\xff\x00\tba\n' > "$dir/binary.tsv"
: > "$dir/empty.txt"
expect 1 'empty.tsv: 0 pairs; at least 2 are needed' -- "$clf" train "${tiny[@]}" --data "$dir/empty.tsv" --out "$dir/d"
expect 1 'tabs.tsv:1: more than one TAB' -- "$clf" train "${tiny[@]}" --data "$dir/tabs.tsv" --out "$dir/d"
expect 1 'nosrc.tsv:1: empty source' -- "$clf" train "${tiny[@]}" --data "$dir/nosrc.tsv" --out "$dir/d"
expect 1 'long.tsv:2: source of 300 bytes is longer than max_len 64' -- "$clf" train "${tiny[@]}" --data "$dir/long.tsv" --out "$dir/d"
expect 1 'binary.tsv: 1 pair; at least 2' -- "$clf" train "${tiny[@]}" --data "$dir/binary.tsv" --out "$dir/d"
expect 1 'empty.txt: 0 bytes; too short' -- "$clf" train "${tiny[@]}" --arch decoder --data "$dir/empty.txt" --out "$dir/d"
expect 1 "cannot open $dir/none.tsv" -- "$clf" train "${tiny[@]}" --data "$dir/none.tsv" --out "$dir/d"

# ---- a good run, then hostile copies of its checkpoint ---------------------------------------
expect 0 'saved .*/last.safetensors' -- "$clf" train "${tiny[@]}" --steps 2 --out "$dir/good"
ck=$dir/good/last.safetensors
st flip "$ck" "$dir/flipped.safetensors"
st cut "$ck" "$dir/cut.safetensors"
st strip "$ck" "$dir/unsummed.safetensors"
head -c 5 "$ck" > "$dir/stub.safetensors"
expect 1 'flipped.safetensors: checksum mismatch: the data is corrupt' -- "$clf" eval --checkpoint "$dir/flipped.safetensors"
expect 1 'cut.safetensors: 100 trailing|cut.safetensors: tensor .* run past the end' -- "$clf" eval --checkpoint "$dir/cut.safetensors"
# SPEC's checkpoint has no checksum: a file written by another implementation still loads
expect 0 'loss' -- "$clf" eval --checkpoint "$dir/unsummed.safetensors"
expect 1 'stub.safetensors: truncated: 5 bytes' -- "$clf" train --resume "$dir/stub.safetensors" --out "$dir/d"
expect 1 'flipped.safetensors: checksum mismatch' -- "$clf" train --resume "$dir/flipped.safetensors" --steps 9 --out "$dir/d"

# ---- device faults: the N-th allocation fails, a kernel build fails ----------------------------
# Allocations 1.. are the parameters, gradients and optimizer state, then the graph's buffers,
# then what the first step and the final evaluation allocate: every one must fail cleanly.
for n in 1 2 4 8 16 32; do
  out=$(CLFORMER_FAULT=alloc=$n "$clf" train "${tiny[@]}" --steps 2 --out "$dir/alloc" 2>&1); rc=$?
  if [ "$rc" = 0 ] || { [ "$rc" = 1 ] && printf '%s' "$out" | grep -q "clCreateBuffer('.*CL_MEM_OBJECT_ALLOCATION_FAILURE"; }; then
    pass
  else
    fail "alloc=$n: exit $rc: $(printf '%s' "$out" | tail -n 3)"
  fi
done
expect 1 "clCreateBuffer\('parameters', .*CL_MEM_OBJECT_ALLOCATION_FAILURE" -- env CLFORMER_FAULT=alloc=1 "$clf" train "${tiny[@]}" --steps 2 --out "$dir/alloc"
expect 1 'CL_MEM_OBJECT_ALLOCATION_FAILURE' -- env CLFORMER_FAULT=alloc=1 "$clf" eval --checkpoint "$ck"
expect 1 'build failure injected by CLFORMER_FAULT' -- env CLFORMER_FAULT='build=*' "$clf" train "${tiny[@]}" --steps 2 --out "$dir/build"
# a real compiler error: the message carries the build log
mkdir -p "$dir/kernels" && cp "$here"/../cl/*.cl "$dir/kernels/"
printf '\n__kernel void broken(void) { this is not C; }\n' >> "$dir/kernels/embedding.cl"
expect 1 'embedding.cl.*failed: CL_BUILD_PROGRAM_FAILURE.*error' -- env CLFORMER_KERNEL_DIR="$dir/kernels" CLFORMER_NO_CACHE=1 \
  "$clf" train "${tiny[@]}" --steps 2 --out "$dir/build"

# ---- a full disk while saving --------------------------------------------------------------
# saves at steps 5 and 10 write step-N then last (writes 1-4), the final save is write 5.
expect 0 'warning: cannot write .*/last.safetensors: writing the temporary file .* No space left on device.*training goes on' -- \
  env CLFORMER_FAULT=write=4 "$clf" train "${tiny[@]}" --steps 12 --save-every 5 --out "$dir/w4"
check "write=4: the final save has step 12" [ "$(st meta "$dir/w4/last.safetensors" step)" = 12 ]
check "write=4: no temporary file left" no_temps "$dir/w4"
expect 1 'cannot write .*/last.safetensors: .*No space left on device.*final checkpoint was not saved' -- \
  env CLFORMER_FAULT=write=5 "$clf" train "${tiny[@]}" --steps 12 --save-every 5 --out "$dir/w5"
check "write=5: last.safetensors is still the step-10 save" [ "$(st meta "$dir/w5/last.safetensors" step)" = 10 ]
check "write=5: last.safetensors loads" loads "$dir/w5/last.safetensors"
check "write=5: no temporary file left" no_temps "$dir/w5"

# ---- kill -9 in the middle of a save ---------------------------------------------------------
# Each save pauses 1.5 s halfway through its temporary file; kill once a checkpoint exists and
# the next save is under way.
mkdir -p "$dir/k9"
CLFORMER_FAULT=write_delay_ms=1500 "$clf" train "${tiny[@]}" --steps 100000 --save-every 3 --out "$dir/k9" > "$dir/k9.log" 2>&1 &
pid=$!
for _ in $(seq 300); do
  [ -f "$dir/k9/last.safetensors" ] && ls "$dir"/k9/last.safetensors.tmp.* > /dev/null 2>&1 && break
  sleep 0.1
done
kill -9 "$pid"; wait "$pid" 2> /dev/null
check "kill -9: a half-written temporary file was there" ls "$dir"/k9/last.safetensors.tmp.*
check "kill -9: last.safetensors loads" loads "$dir/k9/last.safetensors"
step=$(st meta "$dir/k9/last.safetensors" step)
expect 0 "resumed from .* at step $step" -- "$clf" train --resume "$dir/k9/last.safetensors" --steps $((step + 2)) \
  --eval-every 0 --samples 0 --out "$dir/k9"
check "kill -9: the next save removed the dead writer's temporary file" no_temps "$dir/k9"

# ---- SIGTERM and SIGINT save and exit ----------------------------------------------------------
for sig in TERM INT; do
  want=$([ $sig = TERM ] && echo 143 || echo 130)
  rm -rf "$dir/sig"; mkdir -p "$dir/sig"
  "$clf" train "${tiny[@]}" --steps 100000 --out "$dir/sig" > "$dir/sig.log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do [ "$({ wc -l < "$dir/sig/metrics.csv"; } 2> /dev/null || echo 0)" -gt 3 ] && break; sleep 0.1; done
  kill -$sig "$pid"; wait "$pid"; rc=$?
  check "SIG$sig: exit $rc, want $want" [ "$rc" = "$want" ]
  check "SIG$sig: says so" grep -q "interrupted by SIG$sig at step [0-9]*: saved" "$dir/sig.log"
  said=$(sed -n "s/.*interrupted by SIG$sig at step \([0-9]*\).*/\1/p" "$dir/sig.log")
  check "SIG$sig: the checkpoint has the step it reported" [ "$(st meta "$dir/sig/last.safetensors" step)" = "$said" ]
  check "SIG$sig: the checkpoint loads" loads "$dir/sig/last.safetensors"
done

# ---- non-finite gradients --------------------------------------------------------------------
expect 0 'step 3 skipped: non-finite loss or gradient norm \(1 in a row\)' -- \
  env CLFORMER_FAULT=nonfinite=3 "$clf" train "${tiny[@]}" --steps 5 --out "$dir/nf1"
check "nonfinite=3: metrics.csv marks step 3 skipped" grep -q '^3,.*,nan,[0-9.]*,1,' "$dir/nf1/metrics.csv"
check "nonfinite=3: the optimizer took 4 steps of 5" [ "$(st meta "$dir/nf1/last.safetensors" optim_step)" = 4 ]
expect 0 '' -- "$clf" train "${tiny[@]}" --steps 2 --out "$dir/nf-ref"
expect 1 'training stopped at step 4: 2 steps in a row had a non-finite .*saved the last good state' -- \
  env CLFORMER_FAULT=nonfinite=3,nonfinite_count=100 "$clf" train "${tiny[@]}" --steps 50 --max-bad-steps 2 --out "$dir/nf2"
check "max-bad-steps: the saved state is step 2's, bit for bit" st same "$dir/nf2/last.safetensors" "$dir/nf-ref/last.safetensors"
check "max-bad-steps: the optimizer took 2 steps" [ "$(st meta "$dir/nf2/last.safetensors" optim_step)" = 2 ]
check "max-bad-steps: the checkpoint loads" loads "$dir/nf2/last.safetensors"

finish faults
