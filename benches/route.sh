#!/usr/bin/env bash
# Messages across a route: a publisher on server A, subscribers on server B of a two-server
# cluster, ours (both runtimes) against the Go servers, runs interleaved.
#
# usage: benches/route.sh [NAME=CMD]...
#   default: ours=target/release/nats-server, std="target/release/nats-server --runtime std",
#   go215=$NATS_GO215_SERVER (or ~/.cache/natsd-go215/bin/nats-server, when present) and
#   go29=/usr/sbin/nats-server (Debian's 2.9.10, when present). The first is the one the
#   ratios are taken against.
#
# PIN=shared (default): both servers of a pair on CPU $SERVER_CPU (taskset), the load
# generator (natsd-bench with --sub-addr) on $CLIENT_CPU. PIN=none: nothing pinned (the
# servers and the load share both CPUs as the scheduler likes). Per run it prints msgs/s and
# the servers' CPU time per message, both servers together, from natsd-bench --cpu (user +
# system from /proc over the measured window; per delivery for fan-out), then the medians
# and Go/ours CPU ratios (> 1: ours spends less). Knobs: RUNS (3), DURATION (2), SCENARIOS
# (pubsub_16,pubsub_128,fanout_5).
set -euo pipefail
cd "$(dirname "$0")/.."

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

NAMES=()
CMDS=()
if [ $# -eq 0 ]; then
    set -- "ours=$OURS" "std=$OURS --runtime std"
    GO215=${NATS_GO215_SERVER:-$HOME/.cache/natsd-go215/bin/nats-server}
    if [ -x "$GO215" ]; then set -- "$@" "go215=$GO215"; else echo "WARNING: no Go 2.15.1 at $GO215" >&2; fi
    if [ -x /usr/sbin/nats-server ]; then set -- "$@" "go29=/usr/sbin/nats-server"; else echo "WARNING: no Go 2.9.10 at /usr/sbin/nats-server" >&2; fi
fi
for arg in "$@"; do
    NAMES+=("${arg%%=*}")
    CMDS+=("${arg#*=}")
done

# start NAME CMD [ROUTE_PORT]: prints "pid client_port route_port"
start() {
    local name=$1 cmd=$2 route=${3:-}
    local conf=$TMP/$name.conf log=$TMP/$name.log
    {
        echo "server_name: $name"
        echo 'listen: "127.0.0.1:-1"'
        echo 'cluster { name: bench, listen: "127.0.0.1:-1"'
        [ -n "$route" ] && echo "  routes: [\"nats-route://127.0.0.1:$route\"]"
        echo '}'
    } > "$conf"
    # shellcheck disable=SC2086 # CMD is a command line
    "${SRV_PIN[@]}" $cmd -c "$conf" > "$log" 2>&1 &
    local pid=$! cport= rport=
    for _ in $(seq 100); do
        cport=$(sed -n 's/.*Listening for client connections on 127.0.0.1:\([0-9]*\).*/\1/p' "$log" | head -1)
        rport=$(sed -n 's/.*Listening for route connections on 127.0.0.1:\([0-9]*\).*/\1/p' "$log" | head -1)
        [ -n "$cport" ] && [ -n "$rport" ] && break
        sleep 0.1
    done
    echo "$pid $cport $rport"
}

# "pubsub_128  ext  msgs/s  median  1.65M  min ..." -> 1650000
rate_of() {
    awk '$3 ~ /^(msgs|deliveries)\/s$/ {v=$5; k=1; if (v ~ /M$/) k=1e6; else if (v ~ /k$/) k=1e3;
        sub(/[Mk]$/, "", v); print v*k; exit}'
}

echo "# route benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs"
for i in "${!NAMES[@]}"; do
    # shellcheck disable=SC2086
    echo "# ${NAMES[$i]}: ${CMDS[$i]} -- $(${CMDS[$i]} --version 2>&1 | head -1)"
done
echo "# runs=$RUNS duration=${DURATION}s, PIN=$PIN (shared: servers on CPU $SERVER_CPU, load on CPU $CLIENT_CPU)"
RESULTS=$TMP/results
: > "$RESULTS"
for sc in ${SCENARIOS//,/ }; do
    for run in $(seq "$RUNS"); do
        for i in "${!NAMES[@]}"; do
            kind=${NAMES[$i]}
            read -r pa ca ra < <(start "a-$kind-$run" "${CMDS[$i]}")
            read -r pb cb rb < <(start "b-$kind-$run" "${CMDS[$i]}" "$ra")
            out=$("${CLI_PIN[@]}" "$BENCH" --addr "127.0.0.1:$ca" --pid "$pa" --peer-pid "$pb" \
                --sub-addr "127.0.0.1:$cb" --cpu --scenarios "$sc" --runs 1 --duration "$DURATION" 2>&1) \
                || { echo "$out"; exit 1; }
            kill "$pa" "$pb"; wait "$pa" "$pb" 2>/dev/null || true
            rate=$(echo "$out" | rate_of)
            cpu=$(echo "$out" | awk '$3 == "srv" && $4 == "ns/msg" {print $6; exit}')
            printf "%s run %s %-6s: %.3fM msgs/s, servers' CPU %s ns/msg\n" "$sc" "$run" "$kind" "$(awk -v r="$rate" 'BEGIN{print r/1e6}')" "$cpu"
            echo "$sc $kind $rate $cpu" >> "$RESULTS"
        done
    done
done

echo
echo "| scenario | server | msgs/s (median) | CPU ns/msg (median) | CPU, ${NAMES[0]} vs this: this/${NAMES[0]} |"
echo "|---|---|---:|---:|---:|"
for sc in ${SCENARIOS//,/ }; do
    base=
    for kind in "${NAMES[@]}"; do
        med() { awk -v sc="$sc" -v k="$kind" -v f="$1" '$1 == sc && $2 == k {print $f}' "$RESULTS" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
        r=$(med 3); c=$(med 4)
        [ -z "$base" ] && base=$c
        awk -v sc="$sc" -v k="$kind" -v r="$r" -v c="$c" -v b="$base" \
            'BEGIN { printf "| %s | %s | %.2fM | %.0f | %.2f |\n", sc, k, r/1e6, c, c/b }'
    done
done
