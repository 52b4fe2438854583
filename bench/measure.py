#!/usr/bin/env python3
"""Measurement helpers for bench/run.sh: free ports, /proc readings, scrapes, wrk parsing, and
the final tables. Standard library only, so the benchmark needs nothing beyond python3 and wrk.

Subcommands (all print to stdout):
  ports N                   N free loopback TCP ports, one a line
  rss PID...                summed VmRSS of the processes, in KiB
  rsswatch PID SECS         VmRSS of PID every 0.25 s for SECS seconds, and its peak over the
                            window (VmHWM, reset at the start): "median_kb max_kb peak_kb"
  cpu PID...                summed CPU of the processes, "stat_ms sched_ms" (see cpu())
  scrape URL N              N sequential GETs with Accept-Encoding: gzip; fails on a non-200
  spaced URL N GAP          N gzip GETs GAP..1.5*GAP seconds apart (as Prometheus scrapes: most
                            are the first after a poll round): "p50_ms p99_ms max_ms"
  series URL                "samples body_bytes gzip_bytes" of one gzip scrape
  metric URL NAME MATCH     value of the first sample of NAME whose labels contain MATCH
  sum URL NAME              the sum of NAME's samples
  allup URL N               exit 0 when N samples of pg_replication_up are 1
  wrk FILE                  "requests p50_ms p99_ms seconds" from wrk --latency output
  wrkmax FILE               the largest latency of wrk --latency output, in ms
  report FILE               the tables, from the "case tool key value" records in FILE
  plot FILE DIR             PNG plots of the scale cases (gnuplot), and their data, into DIR
"""

import gzip
import http.client
import os
import re
import socket
import statistics
import sys
import urllib.parse

CLK_TCK = os.sysconf("SC_CLK_TCK")


def ports(n):
    socks = []
    try:
        # Hold every socket open until all are chosen so that the N ports are distinct.
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        for s in socks:
            print(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()


def vmrss(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def rss(pids):
    print(vmrss(pids))


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise SystemExit(f"no {field} in /proc/{pid}/status")


def rsswatch(pid, secs):
    """One VmRSS reading is one moment's luck (a page being built holds two pages for a few
    ms): sample the whole window instead and report its median and the largest sample, and the
    kernel's own peak over the window (VmHWM, reset at the start by writing 5 to clear_refs,
    which needs the process's owner or root), which no sampling interval can miss."""
    import time

    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")
    samples = []
    end = time.monotonic() + secs
    while True:
        samples.append(vmrss([pid]))
        left = end - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(0.25, left))
    print(f"{statistics.median(samples):.0f} {max(samples)} {status_kb(pid, 'VmHWM')}")


def cpu(pids):
    """Prints "stat_ms sched_ms": utime+stime from /proc/PID/stat (clock ticks, 10 ms on most
    kernels, dead threads included) and the scheduler's run time summed over the live threads
    (/proc/PID/task/*/schedstat, nanoseconds), which resolves a poll of a millisecond."""
    ticks = 0
    sched_ns = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                # comm (field 2) may contain spaces: split after its closing parenthesis.
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue  # a server's short-lived child (autovacuum worker) that exited
        # utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3.
        ticks += int(fields[11]) + int(fields[12])
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    sched_ns += int(f.read().split()[0])
            except FileNotFoundError:
                pass  # the thread exited while we listed them
    print(f"{ticks * 1000.0 / CLK_TCK:.1f} {sched_ns / 1e6:.3f}")


def _get(url):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    return conn, u.path or "/"


def scrape(url, n):
    conn, path = _get(url)
    for _ in range(n):
        conn.request("GET", path, headers={"Accept-Encoding": "gzip"})
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            sys.exit(f"scrape {url}: HTTP {r.status}")
    conn.close()


def spaced(url, n, gap):
    """n scrapes spaced gap..1.5*gap seconds apart, as Prometheus scrapes (most are the first
    after a poll round): wrk with a delay script over two kept-alive connections (an HA pair of
    Prometheus servers), so that the client's own time is C's, not Python's (http.client added
    0.3-0.4 ms at p50 and 2 ms at p99 to the same scrapes). Prints p50, p99 and max in ms."""
    import subprocess
    import tempfile

    conns = 2
    secs = max(2, int(round(n * gap * 1.25 / conns)))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.headers["Accept-Encoding"] = "gzip"\n'
            f"function delay() return math.random({int(gap * 1000)}, {int(gap * 1500)}) end\n"
        )
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{conns}", f"-d{secs}s", "--latency", "-s", script.name, url],
            check=True, capture_output=True, text=True,
        ).stdout
    finally:
        os.unlink(script.name)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    mx = re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", out, re.M)
    if not (p50 and p99 and mx) or "Non-2xx" in out:
        sys.exit(f"spaced {url}: cannot read wrk output:\n{out}")
    print(f"{_to_ms(p50.group(1)):.4f} {_to_ms(p99.group(1)):.4f} {_to_ms(mx.group(1)):.4f}")


def fetch_text(url):
    conn, path = _get(url)
    conn.request("GET", path, headers={"Accept-Encoding": "gzip"})
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        sys.exit(f"fetch {url}: HTTP {r.status}")
    gz_len = len(body)
    if r.getheader("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    conn.close()
    return body.decode("utf-8", "replace"), gz_len


def series(url):
    text, gz_len = fetch_text(url)
    samples = [l for l in text.splitlines() if l and not l.startswith("#")]
    print(len(samples), len(text.encode()), gz_len)


def metric(url, name, match):
    text, _ = fetch_text(url)
    for line in text.splitlines():
        if line.startswith(name + "{") and match in line:
            print(line.rsplit(" ", 1)[1])
            return
    sys.exit(f"{name} with {match} not found at {url}")


def metric_sum(url, name):
    text, _ = fetch_text(url)
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def allup(url, n):
    sys.exit(0 if metric_sum(url, "pg_replication_up") == n else 1)


def _to_ms(v):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", v)
    if not m:
        raise ValueError(f"wrk latency {v!r}")
    x, unit = float(m.group(1)), m.group(2)
    return x * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(path):
    text = open(path).read()
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    req = re.search(r"^\s+(\d+) requests in ([\d.]+)(\w+)", text, re.M)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if not (p50 and p99 and req) or errors:
        sys.exit(f"cannot read wrk output {path}:\n{text}")
    secs = float(req.group(2)) * {"s": 1.0, "ms": 0.001, "m": 60.0}[req.group(3)]
    print(req.group(1), f"{_to_ms(p50.group(1)):.3f}", f"{_to_ms(p99.group(1)):.3f}", f"{secs:.2f}")


def wrkmax(path):
    """The largest latency wrk saw (its "Max" column), in ms."""
    text = open(path).read()
    m = re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", text, re.M)
    if not m:
        sys.exit(f"cannot read wrk output {path}:\n{text}")
    print(f"{_to_ms(m.group(1)):.3f}")


# ---------------------------------------------------------------------------------------------
# Report

CASES = [
    ("base", "1 cluster x 3 nodes"),
    ("slots500", "+500 slots on the primary"),
    ("walsenders30", "+500 slots, +30 pg_receivewal walsenders"),
    ("clusters3", "3 clusters x 3 nodes"),
]

# (key, label, unit, lower-is-better target for ours/theirs or None)
COMPARE = [
    ("rss_warm_kb", "RSS after warm-up", "MiB", 0.5),
    ("rss_load_kb", "RSS after load", "MiB", 0.5),
    ("cpu_poll_ms", "CPU per poll of a cluster", "ms", None),
    ("cpu_scrape_ms", "CPU per scrape, per cluster", "ms", None),
    ("cpu_obs_ms", "CPU per cluster observation (poll + scrape)", "ms", None),
    ("p50_ms", "/metrics p50 (gzip; theirs: slowest node)", "ms", 0.5),
    ("p99_ms", "/metrics p99 (gzip; theirs: slowest node)", "ms", None),
    ("spaced_p50_ms", "/metrics p50, spaced scrapes (gzip)", "ms", None),
    ("spaced_p99_ms", "/metrics p99, spaced scrapes (gzip)", "ms", None),
    ("stmts_obs", "SQL statements per cluster observation", "", 0.2),
    ("server_ms_obs", "server time per cluster observation (plan+exec)", "ms", None),
    ("server_ms_node", "server time per node poll / per node scrape (plan+exec)", "ms", None),
    ("db_ms_min", "database time per minute per cluster at defaults", "ms", None),
    ("series", "series exposed", "", None),
    ("gz_kb", "/metrics body, gzip", "KiB", None),
]


def load(path):
    data = {}
    for line in open(path):
        parts = line.split()
        if len(parts) != 4:
            continue
        case, tool, key, value = parts
        data.setdefault(case, {}).setdefault(tool, {})[key] = float(value)
    return data


def fmt(v, unit):
    if v is None:
        return "n/a"
    if unit == "MiB":
        return f"{v / 1024:.1f}"
    if unit == "KiB":
        return f"{v / 1024:.1f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3f}" if abs(v) < 1 else f"{v:.2f}"


def table(rows, header):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


def report(path):
    data = load(path)
    for case, title in CASES:
        if case not in data:
            continue
        ours = data[case].get("ours", {})
        theirs = data[case].get("theirs", {})
        meta = data[case].get("meta", {})
        # Every bench cluster has 3 nodes: an observation is one poll (ours) or one scrape
        # (theirs) of each.
        for side in (ours, theirs):
            if "server_ms_obs" in side:
                side["server_ms_node"] = side["server_ms_obs"] / 3
        print(f"\n### {case}: {title} (their processes: {int(meta.get('theirs_procs', 0))})\n")
        rows = []
        for key, label, unit, target in COMPARE:
            o, t = ours.get(key), theirs.get(key)
            if o is None and t is None:
                continue
            ratio = f"{o / t:.2f}" if o is not None and t else "n/a"
            goal = f"<= {target}" if target is not None else ""
            if key in ("p99_ms", "spaced_p99_ms"):
                goal = "ours <= 1 ms"
            if key == "db_ms_min":
                goal = "<= 0.5"
            rows.append([f"{label}{' (' + unit + ')' if unit else ''}", fmt(o, unit), fmt(t, unit), ratio, goal])
        table(rows, ["metric", "ours", "theirs", "ours/theirs", "target"])

    print("\n### How our costs grow\n")
    rows = []
    for case, title in CASES:
        o = data.get(case, {}).get("ours")
        if not o:
            continue
        rows.append([
            case,
            fmt(o.get("poll_ms"), ""),
            fmt(o.get("stmt_ms"), ""),
            fmt(o.get("cpu_poll_round_ms"), ""),
            fmt(o.get("cpu_scrape_round_ms"), ""),
            fmt(o.get("p50_ms"), ""),
            fmt(o.get("p99_ms"), ""),
            fmt(o.get("p50_plain_ms"), ""),
            fmt(o.get("p99_plain_ms"), ""),
            fmt(o.get("rss_load_kb"), "MiB"),
            fmt(o.get("series"), ""),
        ])
    table(rows, ["case", "primary poll ms", "primary stmt ms", "CPU/round ms", "CPU/scrape ms",
                 "p50 ms", "p99 ms", "p50 ms no gzip", "p99 ms no gzip", "RSS MiB", "series"])

    print("\n### How their costs grow\n")
    rows = []
    for case, title in CASES:
        t = data.get(case, {}).get("theirs")
        if not t:
            continue
        rows.append([
            case,
            fmt(t.get("stmts_obs"), ""),
            fmt(t.get("server_ms_obs"), ""),
            fmt(t.get("cpu_scrape_ms"), ""),
            fmt(t.get("p50_ms"), ""),
            fmt(t.get("p99_ms"), ""),
            fmt(t.get("rss_load_kb"), "MiB"),
            fmt(t.get("series"), ""),
        ])
    table(rows, ["case", "stmts/obs", "server ms/obs", "CPU/obs ms", "p50 ms", "p99 ms",
                 "RSS MiB", "series"])
    scale_report(data)


SCALE_COLUMNS = [
    ("ready_s", "start to /ready s"),
    ("all_up_s", "start to all up s"),
    ("up_start", "nodes up after start"),
    ("up_end", "nodes up at end"),
    ("rss_kb", "RSS MiB (median)"),
    ("rss_max_kb", "RSS MiB (max)"),
    ("rss_peak_kb", "RSS MiB (peak)"),
    ("cpu_node_poll_ms", "CPU/node poll ms"),
    ("cpu_core_pct", "CPU % of a core"),
    ("server_node_poll_ms", "server ms/node poll"),
    ("servers:cpu_core_pct", "servers' CPU % of a core"),
    ("rounds_late", "late rounds"),
    ("page_ms", "page build ms"),
    ("pages_per_s", "pages/s"),
    ("spaced_p50_ms", "spaced p50 ms"),
    ("spaced_p99_ms", "spaced p99 ms"),
    ("p99_ms", "wrk p99 ms"),
    ("wrk_max_ms", "wrk max ms"),
    ("healthz_p99_ms", "wrk p99 /healthz ms"),
    ("healthz_max_ms", "wrk max /healthz ms"),
    ("series", "series"),
]


def scale_rows(data, prefix):
    rows = []
    for case in sorted((c for c in data if c.startswith(prefix)), key=lambda c: int(c[len(prefix):])):
        row = [case[len(prefix):]]
        for key, _ in SCALE_COLUMNS:
            tool, _, name = key.rpartition(":")
            v = data[case].get(tool or "ours", {}).get(name)
            row.append(fmt(v, "MiB") if key.startswith("rss_") else fmt(v, ""))
        rows.append(row)
    return rows


def scale_report(data):
    for prefix, title in (("scale_nodes_", "nodes"), ("scale_slots_", "slots on the primary")):
        rows = scale_rows(data, prefix)
        if rows:
            print(f"\n### How our costs grow with {title}\n")
            table(rows, [title] + [label for _, label in SCALE_COLUMNS])
    base = data.get("base", {}).get("theirs", {})
    procs = data.get("base", {}).get("meta", {}).get("theirs_procs")
    fleet = data.get("scale_nodes_1002", {}).get("ours", {})
    if base.get("rss_load_kb") and procs and fleet.get("rss_kb"):
        per = base["rss_load_kb"] / procs
        print(f"\n1002 nodes: ours {fleet['rss_kb'] / 1024:.1f} MiB in one process; theirs "
              f"{per / 1024:.1f} MiB per process (base case) x 1002 processes = "
              f"{per * 1002 / 1048576:.1f} GiB")


PLOTS = [
    ("rss_kb", "RSS, median of the window (MiB)", 1 / 1024),
    ("cpu_node_poll_ms", "exporter CPU per node poll (ms)", 1),
    ("server_node_poll_ms", "server time per node poll (ms)", 1),
    ("page_ms", "page build: render, merge, gzip (ms)", 1),
    ("spaced_p99_ms", "/metrics p99, spaced scrapes (ms)", 1),
    ("p99_ms", "/metrics p99, back to back (ms)", 1),
]


def plot(path, out):
    import subprocess

    data = load(path)
    os.makedirs(out, exist_ok=True)
    for prefix, axis in (("scale_nodes_", "nodes"), ("scale_slots_", "slots on the primary")):
        cases = sorted((c for c in data if c.startswith(prefix)), key=lambda c: int(c[len(prefix):]))
        if not cases:
            continue
        name = prefix.rstrip("_")
        dat = os.path.join(out, name + ".dat")
        with open(dat, "w") as f:
            f.write("# " + axis + " " + " ".join(k for k, _, _ in PLOTS) + "\n")
            for c in cases:
                o = data[c].get("ours", {})
                f.write(c[len(prefix):] + " " + " ".join(
                    str(o.get(k, float("nan")) * scale) for k, _, scale in PLOTS) + "\n")
        script = [
            "set terminal png size 1500,800",
            f"set output '{os.path.join(out, name + '.png')}'",
            "set multiplot layout 2,3",
            "set grid",
            f"set xlabel '{axis}'",
            "set key off",
            "set yrange [0:*]",
        ]
        if prefix == "scale_nodes_":
            script.append("set logscale x")
        for i, (_, label, _) in enumerate(PLOTS):
            script.append(f"set title '{label}'")
            script.append(f"plot '{dat}' using 1:{i + 2} with linespoints pointtype 7")
        script.append("unset multiplot")
        subprocess.run(["gnuplot"], input="\n".join(script), text=True, check=True)
        print(os.path.join(out, name + ".png"))


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "ports":
        ports(int(args[0]))
    elif cmd == "rss":
        rss(args)
    elif cmd == "rsswatch":
        rsswatch(args[0], float(args[1]))
    elif cmd == "cpu":
        cpu(args)
    elif cmd == "scrape":
        scrape(args[0], int(args[1]))
    elif cmd == "spaced":
        spaced(args[0], int(args[1]), float(args[2]))
    elif cmd == "series":
        series(args[0])
    elif cmd == "metric":
        metric(*args)
    elif cmd == "sum":
        print(metric_sum(args[0], args[1]))
    elif cmd == "allup":
        allup(args[0], int(args[1]))
    elif cmd == "wrk":
        wrk(args[0])
    elif cmd == "wrkmax":
        wrkmax(args[0])
    elif cmd == "report":
        report(args[0])
    elif cmd == "plot":
        plot(args[0], args[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
