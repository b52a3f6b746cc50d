#!/usr/bin/env bash
# Instructions per message of the publish path with a publish_rate configured but never
# reached, against none (callgrind: exact on a busy machine). Builds benches/rate_cost/main.rs
# against the working tree's natsd-core.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
dir=$PWD/target/rate_cost
mkdir -p "$dir/src"
cp benches/rate_cost/main.rs "$dir/src/main.rs"
cat > "$dir/Cargo.toml" <<TOML
[package]
name = "rate-cost"
version = "0.0.0"
edition = "2021"
publish = false
[dependencies]
natsd-core = { path = "$PWD/core" }
[profile.release]
lto = true
codegen-units = 1
[workspace]
TOML
(cd "$dir" && cargo build --release -q)
bin=$dir/target/release/rate-cost
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 \
        | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
echo "| workload | no limit | connection limit | account limit |"
echo "|---|---:|---:|---:|"
for w in pub pubsub; do
    a=$(count $w none); b=$(count $w conn); c=$(count $w account)
    awk -v w=$w -v a="$a" -v b="$b" -v c="$c" \
        'BEGIN { printf "| %s | %.0f | %.0f (%+.1f%%) | %.0f (%+.1f%%) |\n", w, a/200000, b/200000, (b/a-1)*100, c/200000, (c/a-1)*100 }'
done
