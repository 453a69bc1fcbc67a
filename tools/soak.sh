#!/usr/bin/env bash
# Soak: a long run of short training steps (tiny model, small batches, periodic evaluation and
# checkpoints), sampling the process's host memory (VmRSS) and the device bytes in use (the
# device_bytes column of metrics.csv) over time. Prints a table and whether both stayed flat after
# warm-up. Not part of the test suite: it takes long and its figures are read by a person.
#
# Usage: tools/soak.sh [CLFORMER] [STEPS] [INTERVAL_S]
#   CLFORMER    the executable (default build/clformer)
#   STEPS       training steps (default 20000)
#   INTERVAL_S  seconds between samples (default 10)
# Extra clformer flags may be passed in SOAK_FLAGS. Exit status: 0 flat, 1 grew, 2 the run failed.
set -u
clf=${1:-build/clformer}
steps=${2:-20000}
interval=${3:-10}
out=$(mktemp -d /tmp/clformer-soak-XXXXXX)
trap 'rm -rf "$out"' EXIT
every=$(( steps / 10 > 0 ? steps / 10 : 1 ))

# shellcheck disable=SC2086
"$clf" train --d-model 16 --n-heads 2 --d-ff 32 --batch-tokens 64 --steps "$steps" --schedule constant --lr 1e-3 \
  --eval-every "$every" --save-every "$every" --samples 0 --log-every "$steps" --out "$out/run" ${SOAK_FLAGS:-} \
  > "$out/log" 2>&1 &
pid=$!
t0=$(date +%s)
samples="$out/samples"
: > "$samples"
printf '%8s %8s %12s %14s\n' "time_s" "step" "rss_kib" "device_bytes"
while kill -0 "$pid" 2> /dev/null; do
  sleep "$interval"
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2> /dev/null) || break
  [ -n "$rss" ] || break
  last=$(tail -n 1 "$out/run/metrics.csv" 2> /dev/null)
  step=$(printf '%s' "$last" | cut -d, -f1)
  dev=$(printf '%s' "$last" | cut -d, -f9)
  case "$step" in ''|*[!0-9]*) continue ;; esac
  printf '%8d %8d %12d %14s\n' "$(( $(date +%s) - t0 ))" "$step" "$rss" "$dev" | tee -a "$samples"
done
wait "$pid"
rc=$?
if [ "$rc" -ne 0 ]; then
  echo "soak: clformer train exited $rc:"; tail -n 5 "$out/log"
  exit 2
fi
grep -E '^trained|^device memory' "$out/log"

# Flat: after the first quarter of the samples (warm-up: kernel builds, first evaluation, first
# save), RSS moves by less than 2 MiB plus 2% and the device bytes do not change at all. Samples
# taken after the last step (the final evaluation) are shown but not judged.
awk -v steps="$steps" '
  $2 < steps { n = ++NR2; t[n] = $1; s[n] = $2; r[n] = $3; d[n] = $4 }
  END {
    NR = NR2
    if (NR < 4) { print "soak: too few samples (" NR ") to judge; lower INTERVAL_S"; exit 1 }
    w = int(NR / 4) + 1
    rmin = rmax = r[w]; dmin = dmax = d[w]
    for (i = w; i <= NR; i++) {
      if (r[i] < rmin) rmin = r[i]; if (r[i] > rmax) rmax = r[i]
      if (d[i] < dmin) dmin = d[i]; if (d[i] > dmax) dmax = d[i]
    }
    per = (s[NR] > s[w]) ? (r[NR] - r[w]) / (s[NR] - s[w]) * 1000 : 0
    printf "after warm-up (from step %d, %d samples): RSS %d..%d KiB (first %d, last %d: %+.2f KiB per 1000 steps); device bytes %d..%d\n",
           s[w], NR - w + 1, rmin, rmax, r[w], r[NR], per, dmin, dmax
    flat_r = (rmax - rmin) <= 2048 + 0.02 * rmin
    flat_d = dmax == dmin
    printf "host memory: %s; device memory: %s\n", flat_r ? "flat" : "GREW", flat_d ? "flat" : "CHANGED"
    exit (flat_r && flat_d) ? 0 : 1
  }' "$samples"
