#!/usr/bin/env bash
# Client TLS throughput: ours against the Go server, both serving TLS only, with natsd-bench's
# TLS client (rustls, ring), runs interleaved (A, B, A, B, ...) as in benches/compare.sh.
#
# usage: benches/tls.sh [SERVER_A [SERVER_B]]
#
#   SERVER_A  a server command line; default: our release build, target/release/nats-server
#             (built by this script)
#   SERVER_B  default: $NATS_GO215_SERVER, else /root/.cache/natsd-go215/bin/nats-server
#             (Go 2.15.1)
#
# The script makes a throwaway CA and a server certificate for localhost and 127.0.0.1
# (openssl, ECDSA P-256) in a temporary directory, writes one config per server with
# `tls { cert_file, key_file }`, and appends `-c <config>` to each command line (natsd-bench
# appends `-a 127.0.0.1 -p <free port>` and launches a fresh server for every run). Every
# connection natsd-bench makes reads INFO, upgrades to TLS (checking the certificate against
# the CA and the name `localhost`), then sends CONNECT.
#
# Pinning as compare.sh: each server on CPU $SERVER_CPU (taskset), the load generator on
# $CLIENT_CPU. natsd-bench runs with --cpu: besides throughput, each scenario reports the
# server's CPU time per message (user+system from /proc/<pid>/stat, first publish to last
# delivery; per delivery for fan-out; ratio > 1: ours uses less), and the server's and the load
# generator's CPU as a share of the wall time (100 % = one core busy: which side is saturated).
#
# Knobs (environment): RUNS (3), DURATION seconds per run (2), SCENARIOS (default
# pub_16,pubsub_16,pubsub_128,fanout_5), SERVER_CPU (0), CLIENT_CPU (1), NAME_A, NAME_B,
# TLS_SUITE (offer only this rustls suite, e.g. TLS13_AES_128_GCM_SHA256; default: rustls's
# list, AES-256-GCM first), TLS=0 (the same runs in plain text, for a baseline).
#
# Prints the session each server negotiated, each scenario's per-server median/min/max, then
# a Markdown table with both medians and the ratio A/B (> 1 means A is better). Exits non-zero
# if any run failed.
set -euo pipefail

cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-2}
SCENARIOS=${SCENARIOS:-pub_16,pubsub_16,pubsub_128,fanout_5}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
TLS=${TLS:-1}

A=${1:-}
B=${2:-${NATS_GO215_SERVER:-/root/.cache/natsd-go215/bin/nats-server}}

if [ -z "$A" ]; then
    cargo build --release --bin nats-server
    A=target/release/nats-server
    NAME_A=${NAME_A:-ours}
fi
NAME_A=${NAME_A:-A}
if [ -z "${2:-}" ]; then
    NAME_B=${NAME_B:-go}
fi
NAME_B=${NAME_B:-B}
read -r B_PROG _ <<<"$B"
if [ ! -x "$B_PROG" ]; then
    echo "no Go server at $B_PROG (set NATS_GO215_SERVER or pass SERVER_B)" >&2
    exit 1
fi
command -v openssl >/dev/null || { echo "openssl is needed to make the certificates" >&2; exit 1; }

cargo build --release -p natsd-benches --bin natsd-bench
BENCH=target/release/natsd-bench

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# A CA, and a server certificate for localhost and 127.0.0.1 signed by it.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=natsd-bench-ca -keyout "$TMP/ca.key" -out "$TMP/ca.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
    2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
    -keyout "$TMP/server.key" -out "$TMP/server.csr" 2>/dev/null
cat >"$TMP/server.ext" <<EOF
subjectAltName = DNS:localhost, IP:127.0.0.1
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
EOF
openssl x509 -req -in "$TMP/server.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" \
    -CAcreateserial -days 2 -extfile "$TMP/server.ext" -out "$TMP/server.pem" 2>/dev/null

for side in a b; do
    if [ "$TLS" = 0 ]; then
        echo "# plain text" >"$TMP/$side.conf"
    else
        cat >"$TMP/$side.conf" <<EOF
tls {
  cert_file: "$TMP/server.pem"
  key_file: "$TMP/server.key"
}
EOF
    fi
done

PIN=(--server-cpu "$SERVER_CPU" --client-cpu "$CLIENT_CPU" --latency-cpu "$SERVER_CPU")
LAUNCH=(taskset -c "$CLIENT_CPU")
if ! command -v taskset >/dev/null || [ "$(nproc)" -lt 2 ]; then
    echo "WARNING: taskset missing or fewer than 2 CPUs: running unpinned" >&2
    PIN=()
    LAUNCH=()
fi

MODE="TLS (client offers ${TLS_SUITE:-rustls defaults})"
[ "$TLS" = 0 ] && MODE="plain text (TLS=0)"
REV=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
git diff --quiet HEAD -- 2>/dev/null || REV="$REV+dirty"
echo "# natsd-bench TLS compare, $(date -u '+%Y-%m-%d %H:%M UTC'), $MODE"
echo "# machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), kernel $(uname -r)"
echo "# A ($NAME_A): $A -- $($A --version 2>&1 | head -1) (tree $REV)"
echo "# B ($NAME_B): $B -- $($B_PROG --version 2>&1 | head -1)"
echo "# runs=$RUNS duration=${DURATION}s scenarios=$SCENARIOS"

ARGS=(--server "$NAME_A=$A -c $TMP/a.conf" --server "$NAME_B=$B -c $TMP/b.conf"
    --runs "$RUNS" --duration "$DURATION" --scenarios "$SCENARIOS" --cpu "${PIN[@]}")
if [ "$TLS" != 0 ]; then
    ARGS+=(--tls-ca "$TMP/ca.pem" --tls-name localhost)
    if [ -n "${TLS_SUITE:-}" ]; then
        ARGS+=(--tls-suite "$TLS_SUITE")
    fi
fi
status=0
"${LAUNCH[@]}" "$BENCH" "${ARGS[@]}" || status=$?
exit $status
