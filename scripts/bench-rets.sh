#!/usr/bin/env bash
# RETS search parsing speed, in one run on the same bytes:
#   - switchboard's `CompactReader` (benches/rets.rs, its paired report: sync and async API,
#     every field read through `RowRef::get`) and the memchr floor it is paired with;
#   - Python `rets` 1.0.0 (PyPI), `rets.parsers.search.OneXSearchCursor.generator`, the parser
#     its `Session.search` streams rows through, every value of every row touched.
# Prints MB/s for each and the ratios. Not part of CI (scripts/test.sh does not call it).
#
#   scripts/bench-rets.sh [ROWS] [COLS]      # default 100000 40: about 54 MB COMPACT-DECODED
#
# Environment: CARGO_TARGET_DIR (the reply and the venv go to $CARGO_TARGET_DIR/rets-bench;
# default target/), SWITCHBOARD_SHARED_DIR (default ../shared, holds tools/rets_gen.py),
# PYTHON (default python3), RETS_PY_ROUNDS (default 3), SWITCHBOARD_BENCH_ROUNDS (default 5).
# Needs network access once, for `pip install rets==1.0.0` into the venv.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$script_dir/.." && pwd)"
cd "$repo"
exec </dev/null

rows="${1:-100000}"
cols="${2:-40}"
python="${PYTHON:-python3}"
target="${CARGO_TARGET_DIR:-$repo/target}"
shared="${SWITCHBOARD_SHARED_DIR:-$repo/../shared}"
work="$target/rets-bench"
file="$work/reply-${rows}x${cols}.xml"
venv="$work/venv"
mkdir -p "$work"

if [[ ! -f "$file" ]]; then
    echo "generating $file ($rows rows x $cols columns)" >&2
    "$python" "$shared/tools/rets_gen.py" "$rows" "$cols" "$file.tmp"
    mv "$file.tmp" "$file"
fi
bytes=$(wc -c <"$file")

if ! "$venv/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("rets") != "1.0.0")' 2>/dev/null; then
    echo "creating $venv with rets==1.0.0" >&2
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check rets==1.0.0
fi

echo "building benches/rets.rs" >&2
cargo bench --bench rets --features rets --no-run --quiet >&2

# Python first, then Rust, both on a warm page cache.
py_out=$("$venv/bin/python" - "$file" "${RETS_PY_ROUNDS:-3}" <<'PY'
import statistics
import sys
import time

from rets.exceptions import MaxrowException
from rets.parsers.search import OneXSearchCursor


class Raw:
    decode_content = False


class Response:
    """What OneXSearchCursor.generator reads: `.content` and `.raw.decode_content`."""

    def __init__(self, content):
        self.content = content
        self.raw = Raw()


path, rounds = sys.argv[1], int(sys.argv[2])
data = open(path, "rb").read()


def run():
    start = time.perf_counter()
    rows = 0
    try:
        for row in OneXSearchCursor().generator(Response(data)):
            for value in row.values():
                pass
            rows += 1
    except MaxrowException:
        pass  # raised at <MAXROWS/>, after the last row
    return time.perf_counter() - start, rows


times = []
for _ in range(rounds):
    elapsed, rows = run()
    times.append(elapsed)
print(f"{len(data) / statistics.median(times) / 1e6:.1f} {rows} {statistics.median(times):.3f}")
PY
)
read -r py_mbps py_rows py_secs <<<"$py_out"

rs_line=$(RETS_BENCH_FILE="$file" SWITCHBOARD_BENCH_REPORT=only cargo bench --bench rets --features rets --quiet 2>/dev/null | grep '^rets compact parse')
rs_sync=$(sed -E 's/^rets compact parse: ([0-9.]+) MB\/s \(sync\).*/\1/' <<<"$rs_line")
rs_async=$(sed -E 's/.*, ([0-9.]+) MB\/s \(async\).*/\1/' <<<"$rs_line")
scan=$(sed -E 's/.*memchr scan: ([0-9.]+) MB\/s.*/\1/' <<<"$rs_line")

echo
echo "reply: $file ($bytes bytes, $rows rows x $cols columns)"
echo "$rs_line"
echo "python rets 1.0.0 OneXSearchCursor: $py_mbps MB/s (median of ${RETS_PY_ROUNDS:-3} rounds, $py_secs s, $py_rows rows)"
awk -v s="$rs_sync" -v a="$rs_async" -v p="$py_mbps" -v m="$scan" 'BEGIN {
    printf "ratios: CompactReader sync / Python rets = %.1fx, async / Python rets = %.1fx (target >= 4x); sync / memchr scan = %.3f\n", s / p, a / p, s / m
}'
