# Shared by the tests/test_*.sh scripts (sourced, not run): pass/fail counters and `expect`.
passed=0 failed=0

pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); printf 'FAIL: %s\n' "$*"; }

# expect CODE PATTERN -- COMMAND...: the command exits with CODE ("nonzero" for any but 0; a signal
# is not a failure code) and its output (stdout and stderr) matches the extended regex PATTERN,
# which may span lines.
expect() {
  local code=$1 pattern=$2; shift 3
  local out rc ok=1
  out=$("$@" 2>&1); rc=$?
  if [ "$code" = nonzero ]; then [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] || ok=0; else [ "$rc" -eq "$code" ] || ok=0; fi
  printf '%s' "$out" | grep -Ezq -- "$pattern" || ok=0
  if [ "$ok" = 1 ]; then pass; else
    fail "$*"
    printf '  exit %s (want %s), output:\n%s\n  (wanted /%s/)\n' "$rc" "$code" "$(printf '%s' "$out" | tail -n 15)" "$pattern"
  fi
}

# finish NAME: the summary line, and the exit status of the whole script.
finish() {
  echo "$1: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
