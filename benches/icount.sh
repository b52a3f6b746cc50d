#!/usr/bin/env bash
# Instructions per message of the core's hot path, at two commits, from callgrind: exact and
# repeatable on a busy machine (throughput runs are not; see BENCHMARKS.md).
#
# usage: benches/icount.sh [BASE_REV [NEW_REV]]    (defaults: HEAD~1 and the working tree)
#
# Builds benches/icount/main.rs (from the working tree) against each side's natsd-core, runs
# the pub, pubsub and fanout workloads under `valgrind --tool=callgrind`, and prints the
# instructions per published message and the ratio new/base (< 1 means new is cheaper).
# Knob: MSGS (200000).
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=${1:-HEAD~1}
NEW=${2:-}
MSGS=${MSGS:-200000}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }

root=$PWD
work=$root/target/icount
mkdir -p "$work"

# build SIDE CORE_DIR -> path of the binary
build() {
    local side=$1 core=$2 dir=$work/$1
    mkdir -p "$dir/src"
    cp "$root/benches/icount/main.rs" "$dir/src/main.rs"
    cat > "$dir/Cargo.toml" <<TOML
[package]
name = "icount-$side"
version = "0.0.0"
edition = "2021"
publish = false
[dependencies]
natsd-core = { path = "$core" }
[profile.release]
lto = true
codegen-units = 1
[workspace]
TOML
    (cd "$dir" && cargo build --release -q)
    echo "$dir/target/release/icount-$side"
}

checkout() {
    local rev=$1 dir=$work/tree-$2
    rm -rf "$dir"
    git worktree prune
    git worktree add -q --detach "$dir" "$rev"
    echo "$dir/core"
}

base_bin=$(build base "$(checkout "$BASE" base)")
if [ -n "$NEW" ]; then
    new_bin=$(build new "$(checkout "$NEW" new)")
    new_name=$NEW
else
    new_bin=$(build new "$root/core")
    new_name="working tree"
fi

count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" "$2" "$MSGS" 2>&1 \
        | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

echo "# instructions per message, $MSGS messages, base $BASE vs $new_name"
echo "| workload | base | new | new/base |"
echo "|---|---:|---:|---:|"
for w in pub pubsub fanout; do
    b=$(count "$base_bin" $w)
    n=$(count "$new_bin" $w)
    awk -v w=$w -v b="$b" -v n="$n" -v m="$MSGS" \
        'BEGIN { printf "| %s | %.0f | %.0f | %.3f |\n", w, b/m, n/m, n/b }'
done
git worktree remove --force "$work/tree-base" 2>/dev/null || true
[ -n "$NEW" ] && git worktree remove --force "$work/tree-new" 2>/dev/null || true
