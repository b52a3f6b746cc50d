"""One rebalancing scenario with nats-py clients; driven by scripts/rebalance-nats-py.

N clients connect to server A (each knows the URLs of A, B and C; B and C are not running
yet), each subscribed to its own subject rb.<i>. Then B and C start with routes to A. Every
second each server's /connz num_connections is polled, until every server has been within the
band (target +/- max(abs, target*(rel-1))) with all N clients connected for 3 consecutive polls,
or the deadline passes. Then: clients moved (/varz rebalance.clients_shed, summed), the
reconnects the clients saw (reconnected_cb), and one message published to every rb.<i> from a
separate client (missing ones re-sent a few rounds, for interest propagation) to check that
every subscription followed its client.

With refuse_new_when_over, the refusals are counted from the servers' logs ('maximum
connections exceeded'; nats-py 2.16 reports them as 'Connection lost').

Prints a line per poll while it runs, a summary, and last a line `RESULT {json}`, also written
to <workdir>/result.json for the driver's summary. Everything listens on 127.0.0.1; the servers it starts are killed when it exits (their
pids are also written to <workdir>/pids for the driver's trap).
"""

import argparse
import asyncio
import collections
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import nats

HOST = "127.0.0.1"


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (bound together, then released)."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


class Server:
    def __init__(self, name, client, cluster, http):
        self.name, self.client, self.cluster, self.http = name, client, cluster, http
        self.proc = None
        self.conf = None
        self.log = None

    @property
    def url(self):
        return f"nats://{HOST}:{self.client}"

    def write_conf(self, workdir, route_to, rebalance):
        lines = [
            f"server_name: {self.name}",
            f"host: {HOST}",
            f"port: {self.client}",
            f"http: \"{HOST}:{self.http}\"",
            "cluster {",
            "  name: rb",
            f"  listen: \"{HOST}:{self.cluster}\"",
        ]
        if route_to is not None:
            lines.append(f"  routes: [\"nats-route://{HOST}:{route_to.cluster}\"]")
        if rebalance is not None:
            lines.append(f"  rebalance: {rebalance}")
        lines.append("}")
        self.conf = os.path.join(workdir, f"{self.name}.conf")
        self.log = os.path.join(workdir, f"{self.name}.log")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, binary, pidfile):
        logf = open(self.log, "w")
        self.proc = subprocess.Popen(
            [binary, "-c", self.conf], stdout=logf, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        logf.close()
        with open(pidfile, "a") as f:
            f.write(f"{self.proc.pid}\n")

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def get(self, path, timeout=2.0):
        with urllib.request.urlopen(f"http://{HOST}:{self.http}{path}", timeout=timeout) as r:
            return json.load(r)

    def tail(self, n=15):
        try:
            with open(self.log) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


async def poll(servers, path):
    """GET path on every server at once (in threads: the clients' loop keeps running)."""
    async def one(s):
        try:
            return await asyncio.to_thread(s.get, path)
        except Exception:
            return None
    return await asyncio.gather(*(one(s) for s in servers))


async def wait_up(server, deadline):
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"server {server.name} exited ({server.proc.returncode}):\n"
                               + server.tail())
        try:
            await asyncio.to_thread(server.get, "/varz", 0.5)
            return
        except Exception:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"server {server.name} not up in time:\n" + server.tail())


def compact(timeline):
    """'0-2s 150/0/0 | 3s 101/24/25 | ...': runs of equal counts merged."""
    out, start, prev, last_t = [], None, None, None
    for t, counts in timeline:
        key = "/".join("-" if c is None else str(c) for c in counts)
        if key != prev:
            if prev is not None:
                out.append((start, last_t, prev))
            start, prev = t, key
        last_t = t
    if prev is not None:
        out.append((start, last_t, prev))
    return " | ".join(f"{a}s {k}" if a == b else f"{a}-{b}s {k}" for a, b, k in out)


async def scenario(args):
    n = args.clients
    ports = free_ports(9)
    a, b, c = (Server(name, *ports[i * 3:i * 3 + 3]) for i, name in enumerate("ABC"))
    servers = [a, b, c]
    rebalance = None
    if args.kind == "ours":
        rebalance = ("{ enabled: true, max_moves_per_sec: %d, abs_threshold: %d, "
                     "rel_threshold: %s, cooldown: \"%s\", dry_run: false, "
                     "refuse_new_when_over: %s }" % (
                         args.max_moves, args.abs_threshold, args.rel_threshold,
                         args.cooldown, "true" if args.refuse else "false"))
    for s in servers:
        s.write_conf(args.workdir, None if s is a else a, rebalance)
    pidfile = os.path.join(args.workdir, "pids")

    target = math.ceil(n / 3)
    band = max(args.abs_threshold, target * (args.rel_threshold - 1))
    lo, hi = math.ceil(target - band - 1e-9), math.floor(target + band + 1e-9)
    label = args.label
    print(f"== {label}: {n} clients on A, then B and C join; target {target}, band {lo}..={hi}",
          flush=True)
    print(f"   ports: A {a.client} (cluster {a.cluster}, http {a.http}), "
          f"B {b.client} ({b.cluster}, {b.http}), C {c.client} ({c.cluster}, {c.http})",
          flush=True)

    clients, pub = [], None
    try:
        a.start(args.binary, pidfile)
        await wait_up(a, time.monotonic() + 20)

        urls = [s.url for s in servers]
        got = [0] * n
        reconnects = [0] * n
        disconnects = [0] * n
        errors = collections.Counter()

        def make_cbs(i):
            async def on_msg(msg):
                got[i] += 1

            async def on_reconnect():
                reconnects[i] += 1

            async def on_disconnect():
                disconnects[i] += 1

            async def on_error(e):
                # Connection refused by B and C before they start, EOFs when moved,
                # 'Connection lost' when refused while over (nats-py 2.16 does not show
                # the -ERR): counted, not printed.
                errors[f"{type(e).__name__}: {str(e)[:60]}"] += 1
            return on_msg, on_reconnect, on_disconnect, on_error

        t0 = time.monotonic()
        for i in range(n):
            on_msg, on_reconnect, on_disconnect, on_error = make_cbs(i)
            nc = await nats.connect(
                servers=urls, allow_reconnect=True, max_reconnect_attempts=-1,
                reconnect_time_wait=args.reconnect_wait, connect_timeout=2,
                reconnected_cb=on_reconnect, disconnected_cb=on_disconnect,
                error_cb=on_error, name=f"rb-{i}")
            await nc.subscribe(f"rb.{i}", cb=on_msg)
            clients.append(nc)
        for nc in clients:
            await nc.flush(timeout=5)
        (va,) = await poll([a], "/connz")
        on_a = va["num_connections"] if va else None
        print(f"   {n} clients connected to A in {time.monotonic() - t0:.1f}s "
              f"(A's /connz: {on_a}); connect errors while B and C were down: "
              f"{sum(errors.values())}", flush=True)
        if on_a != n:
            raise RuntimeError(f"expected {n} clients on A, /connz says {on_a}")
        errors.clear()

        # B and C join.
        b.start(args.binary, pidfile)
        c.start(args.binary, pidfile)
        start = time.monotonic()
        timeline, streak, converged_at = [], 0, None
        while True:
            await asyncio.sleep(max(0.0, start + len(timeline) + 1 - time.monotonic()))
            t = len(timeline) + 1
            for s in (b, c):
                if s.proc.poll() is not None:
                    raise RuntimeError(f"server {s.name} exited:\n" + s.tail())
            res = await poll(servers, "/connz")
            counts = [r["num_connections"] if r else None for r in res]
            timeline.append((t, counts))
            inband = (None not in counts and sum(counts) == n
                      and all(lo <= x <= hi for x in counts))
            streak = streak + 1 if inband else 0
            if streak == 1:
                converged_at = t
            print(f"   t={t:2d}s  A/B/C {'/'.join(str(x) for x in counts):<12} "
                  f"reconnects {sum(reconnects)}", flush=True)
            if streak >= 3 or time.monotonic() - start >= args.deadline:
                break
        converged = streak >= 3
        if not converged:
            converged_at = None

        routez = await poll(servers, "/routez")
        routes = [r.get("num_routes") if r else None for r in routez]
        varz = await poll(servers, "/varz")
        shed = []
        for v in varz:
            r = (v or {}).get("rebalance")
            shed.append(r.get("clients_shed") if isinstance(r, dict) else None)
        moved = sum(x for x in shed if x is not None) if any(x is not None for x in shed) \
            else None

        # Delivery: one message to every rb.<i> from a separate client.
        async def ignore(e):
            pass
        pub = await nats.connect(servers=urls, max_reconnect_attempts=-1,
                                 reconnect_time_wait=args.reconnect_wait,
                                 error_cb=ignore, name="rb-publisher")
        sent = [0] * n
        rounds = 0
        for rounds in range(1, args.delivery_rounds + 1):
            for i in range(n):
                if got[i] == 0:
                    await pub.publish(f"rb.{i}", b"x")
                    sent[i] += 1
            await pub.flush(timeout=5)
            wait_until = time.monotonic() + 1.0
            while time.monotonic() < wait_until and any(g == 0 for g in got):
                await asyncio.sleep(0.05)
            if all(g > 0 for g in got):
                break
        received = sum(1 for g in got if g > 0)
        dups = sum(1 for i in range(n) if got[i] > sent[i])
        missed = [i for i in range(n) if got[i] == 0]

        await pub.close()
        pub = None
        await asyncio.sleep(0.2)
        final = [r["num_connections"] if r else None
                 for r in await poll(servers, "/connz")]
        where = collections.Counter()
        for nc in clients:
            u = nc.connected_url
            where[u.port if u is not None and nc.is_connected else None] += 1
        by_client = [where.get(s.client, 0) for s in servers]
        not_connected = where.get(None, 0)

        refused = []
        for s in servers:
            try:
                with open(s.log) as f:
                    refused.append(sum(1 for line in f if "maximum connections exceeded" in line))
            except OSError:
                refused.append(None)

        total_rc = sum(reconnects)
        rc_hist = collections.Counter(reconnects)
        print(f"-- {label}", flush=True)
        print(f"   counts over time (since B and C started): {compact(timeline)}", flush=True)
        if converged:
            print(f"   converged: every server in {lo}..={hi} with all {n} connected from "
                  f"t={converged_at}s (held 3 polls)", flush=True)
        else:
            print(f"   NOT converged within {args.deadline}s: last "
                  f"{'/'.join(str(x) for x in timeline[-1][1])}", flush=True)
        print(f"   clients moved (rebalance.clients_shed A/B/C): "
              f"{'/'.join('-' if x is None else str(x) for x in shed)}"
              f" = {moved if moved is not None else 'n/a (no rebalance in /varz)'}", flush=True)
        print(f"   reconnects seen by the clients: {total_rc} "
              f"(clients by reconnect count: "
              f"{', '.join(f'{k}x: {v}' for k, v in sorted(rc_hist.items()))}); "
              f"disconnects {sum(disconnects)}", flush=True)
        if any(refused):
            print(f"   connections refused ('maximum connections exceeded' in the logs, A/B/C): "
                  f"{'/'.join(str(x) for x in refused)}", flush=True)
        if errors:
            print("   client errors after B and C started: " + "; ".join(
                f"{v} x {k}" for k, v in errors.most_common(5)), flush=True)
        if not missed:
            print(f"   delivery: all {n} received (round {rounds}"
                  f"{f', {dups} got duplicates' if dups else ''})", flush=True)
        else:
            print(f"   delivery: {len(missed)} of {n} missed after {rounds} rounds "
                  f"(rb.{', rb.'.join(str(i) for i in missed[:10])}"
                  f"{'...' if len(missed) > 10 else ''})", flush=True)
        print(f"   final /connz A/B/C {'/'.join(str(x) for x in final)}; clients' own view "
              f"{'/'.join(str(x) for x in by_client)}"
              f"{f', {not_connected} not connected' if not_connected else ''}; "
              f"routes A/B/C {'/'.join(str(x) for x in routes)}", flush=True)

        result = {
            "label": label, "kind": args.kind, "refuse": args.refuse, "clients": n,
            "band": [lo, hi], "timeline": timeline, "converged": converged,
            "converged_at_s": converged_at, "final_counts": final,
            "last_poll_counts": timeline[-1][1], "clients_view": by_client,
            "not_connected": not_connected, "routes": routes, "shed": shed, "moved": moved,
            "reconnects": total_rc, "disconnects": sum(disconnects), "refused": refused,
            "received": received, "missed": len(missed), "delivery_rounds": rounds,
            "duplicates": dups, "errors": dict(errors),
        }
        print("RESULT " + json.dumps(result), flush=True)
        with open(os.path.join(args.workdir, "result.json"), "w") as f:
            json.dump(result, f)
        return 0 if (received == n and (converged or args.kind == "go")) else 1
    finally:
        async def close_all():
            await asyncio.gather(*(nc.close() for nc in clients + ([pub] if pub else [])),
                                 return_exceptions=True)
        try:
            await asyncio.wait_for(close_all(), 10)
        except Exception:
            pass
        for s in servers:
            s.stop()


def summary(files):
    """One line a scenario from the scenarios' result.json files (missing: not finished)."""
    for path in files:
        try:
            with open(path) as f:
                r = json.load(f)
        except (OSError, ValueError):
            print(f"  {os.path.basename(os.path.dirname(path)):<16} no result")
            continue
        counts = "/".join(str(x) for x in r["last_poll_counts"])
        t = (f"converged at {r['converged_at_s']}s" if r["converged"]
             else "not converged")
        moved = "n/a" if r["moved"] is None else r["moved"]
        d = (f"all {r['clients']} received" if r["missed"] == 0
             else f"{r['missed']} of {r['clients']} missed")
        refused = sum(x or 0 for x in r.get("refused") or [])
        print(f"  {r['label']:<16} {counts:<10} {t:<18} moved {moved:<4} "
              f"reconnects {r['reconnects']:<4} refused {refused:<3} {d}")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--summary":
        summary(sys.argv[2:])
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--binary", required=True)
    p.add_argument("--kind", choices=["ours", "go"], default="ours")
    p.add_argument("--refuse", action="store_true", help="refuse_new_when_over: true")
    p.add_argument("--label", default="run")
    p.add_argument("--workdir", required=True)
    p.add_argument("--clients", type=int, default=150)
    p.add_argument("--max-moves", type=int, default=50)
    p.add_argument("--abs-threshold", type=int, default=5)
    p.add_argument("--rel-threshold", type=float, default=1.1)
    p.add_argument("--cooldown", default="2s")
    p.add_argument("--deadline", type=float, default=60)
    p.add_argument("--reconnect-wait", type=float, default=0.5)
    p.add_argument("--delivery-rounds", type=int, default=5)
    args = p.parse_args()

    async def run():
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        return await scenario(args)
    try:
        sys.exit(asyncio.run(run()))
    except asyncio.CancelledError:
        print(f"== {args.label}: interrupted", flush=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
