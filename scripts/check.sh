#!/usr/bin/env bash
# `npm run check`: the format check, lint, typecheck and the three test tiers, in two
# lanes side by side so the wall time is the longer lane, not the sum:
#
#   checks  format:check, lint, typecheck, test:unit, test:db   (one after another)
#   e2e     test:e2e                                           (two vitest forks)
#
# The e2e files are mostly waiting on the servers, launchers and OpenTofu they start
# (each on its own loopback ports, temp dirs and databases), so they share the machine
# with the CPU-bound lane well. Every step runs even when an earlier one failed; each
# output line is prefixed with its lane, and a summary at the end names each step's
# result and time. The exit code is 1 when any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."

results=$(mktemp)
trap 'rm -f "$results"' EXIT
trap 'kill $(jobs -p) 2>/dev/null; exit 130' INT TERM

run_lane() {
  local lane=$1 step rc start
  shift
  for step in "$@"; do
    start=$SECONDS
    echo "[$lane] ── npm run $step"
    npm run --silent "$step" 2>&1 | sed -u "s/^/[$lane] /"
    rc=${PIPESTATUS[0]}
    echo "$lane $step $rc $((SECONDS - start))" >>"$results"
    echo "[$lane] ── npm run $step: $([ "$rc" = 0 ] && echo ok || echo "FAILED (exit $rc)") in $((SECONDS - start))s"
  done
}

started=$SECONDS
run_lane checks format:check lint typecheck test:unit test:db &
run_lane e2e test:e2e &
wait

echo
echo "check summary (wall time $((SECONDS - started))s):"
failed=0
while read -r lane step rc secs; do
  if [ "$rc" = 0 ]; then status=ok; else status="FAILED (exit $rc)"; failed=1; fi
  printf '  %-7s %-13s %-18s %5ss\n' "$lane" "$step" "$status" "$secs"
done <"$results"
if [ "$failed" = 1 ]; then
  echo "check FAILED: $(awk '$3 != 0 {printf "%s%s", sep, $2; sep=", "}' "$results")"
  exit 1
fi
echo "check passed"
