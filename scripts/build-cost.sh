#!/usr/bin/env bash
# What a connector feature adds to a clean release build of the core.
#
#   scripts/build-cost.sh [FEATURE ...]     # default: stripe twilio
#
# For the core alone and for the core plus each feature, one clean `cargo build --release
# --lib` in its own fresh target directory (registry downloads are warmed first, so only
# compiling is timed). Prints wall and CPU seconds and the difference to the core. Runs are
# interleaved (core, feature, core, feature) so a machine that drifts affects both alike.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
features=("$@")
[[ ${#features[@]} -gt 0 ]] || features=(stripe twilio)
rounds="${SWITCHBOARD_BUILD_COST_ROUNDS:-2}"
work="$(mktemp -d "${TMPDIR:-/tmp}/switchboard-build-cost.XXXXXX")"
trap 'rm -rf "$work"' EXIT

cargo fetch --quiet

# build LABEL [cargo feature args...]: prints "LABEL wall cpu"
build() {
    local label=$1
    shift
    local target="$work/$label"
    rm -rf "$target"
    local t0 c0 t1 c1
    t0=$(date +%s.%N)
    /usr/bin/time -f "%U %S" -o "$work/time" \
        cargo build --quiet --release --lib --no-default-features "$@" --target-dir "$target"
    t1=$(date +%s.%N)
    read -r c0 c1 <"$work/time"
    printf '%s %.1f %.1f\n' "$label" "$(echo "$t1 - $t0" | bc)" "$(echo "$c0 + $c1" | bc)"
    rm -rf "$target"
}

results="$work/results"
for ((r = 1; r <= rounds; r++)); do
    build core >>"$results"
    for f in "${features[@]}"; do
        build "$f" --features "$f" >>"$results"
    done
done

echo "clean release build of the lib, $rounds round(s), median of each (seconds):"
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
core_wall=$(awk '$1=="core"{print $2}' "$results" | median)
core_cpu=$(awk '$1=="core"{print $3}' "$results" | median)
printf '  %-8s wall %6.1f  cpu %6.1f\n' core "$core_wall" "$core_cpu"
for f in "${features[@]}"; do
    w=$(awk -v f="$f" '$1==f{print $2}' "$results" | median)
    c=$(awk -v f="$f" '$1==f{print $3}' "$results" | median)
    printf '  %-8s wall %6.1f  cpu %6.1f  (adds %+.1f s wall, %+.1f s cpu)\n' "$f" "$w" "$c" \
        "$(echo "$w - $core_wall" | bc)" "$(echo "$c - $core_cpu" | bc)"
done
