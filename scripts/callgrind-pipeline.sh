#!/usr/bin/env bash
# Instruction counts of one client process of benches/pipeline.rs (callgrind), per variant:
# the deterministic companion of the CPU report in docs/performance.md.
#
#   scripts/callgrind-pipeline.sh [REQUESTS] [VARIANT ...]
#       default: 3000 requests; raw_reqwest reqwest_middleware_retry switchboard_no_cache
#
# Builds the bench, starts its server role, runs each variant's client role under
# `valgrind --tool=callgrind` and prints the total; the output files stay in
# $CARGO_TARGET_DIR/callgrind (open them with callgrind_annotate). Totals include the client's
# start and warm-up (2,000 requests plus 33), the same for every variant.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
requests="${1:-3000}"
shift || true
variants=("$@")
[[ ${#variants[@]} -gt 0 ]] || variants=(raw_reqwest reqwest_middleware_retry switchboard_no_cache)
target="${CARGO_TARGET_DIR:-target}"
out="$target/callgrind"
mkdir -p "$out"
bin=$(cargo bench --bench pipeline --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m["target"]["name"]=="pipeline" and m.get("executable"):
        print(m["executable"])')
fifo="$out/server-stdin"
rm -f "$fifo"
mkfifo "$fifo"
SWITCHBOARD_BENCH_ROLE=server "$bin" <"$fifo" >"$out/server-banner" &
server=$!
exec 3>"$fifo"
trap 'exec 3>&-; wait "$server" 2>/dev/null || true; rm -f "$fifo"' EXIT
for _ in $(seq 50); do grep -q PORT "$out/server-banner" 2>/dev/null && break; sleep 0.1; done
port=$(awk '/PORT/{print $2}' "$out/server-banner")
for v in "${variants[@]}"; do
    SWITCHBOARD_BENCH_ROLE=client SWITCHBOARD_BENCH_CHILD_BASE="http://127.0.0.1:$port" \
        SWITCHBOARD_BENCH_CHILD_SERVER_PID="$server" SWITCHBOARD_BENCH_CHILD_VARIANT="$v" \
        SWITCHBOARD_BENCH_CPU_REQUESTS="$requests" SWITCHBOARD_BENCH_PREFILL=0 \
        valgrind --tool=callgrind --callgrind-out-file="$out/$v.cg" "$bin" 2>&1 |
        awk -v v="$v" '/I *refs:/{gsub(",","",$NF); printf "%-28s %14d instructions\n", v, $NF}'
done
