"""Turns the comparison's JSON lines into docs/BENCHMARKS.md (machine,
command, table, goals) and docs/benchmarks.png (a chart). The criterion
benches' output for the in-memory backend and wait mode's wake-ups, when
given, adds their figures.

python report.py <results.jsonl> <docs dir> <pairs> [memory.txt wake.txt [window.txt]]
"""

import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def version(command):
    try:
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().splitlines()[0]
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu():
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def nanoseconds(time):
    """A criterion time such as `185.60 ns`, in ns."""
    value, unit = time.split()
    return float(value) * {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}[unit]


def criterion_rows(path):
    """Every criterion benchmark in the file: (name, middle estimate)."""
    try:
        text = open(path).read()
    except OSError:
        return []
    # The name starts a line; `time:` follows on it or, for a long name,
    # on the next one.
    return re.findall(r"^(\S.*?)\s+time:\s+\[\S+ \S+ (\S+ \S+)", text, re.MULTILINE)


def wake_p50_us(path):
    """The p50 of the `redis (loopback)` line of the wake bench, in µs."""
    units = {"ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3, "s": 1e6}
    try:
        text = open(path).read()
    except OSError:
        return None
    found = re.search(r"redis \(loopback\): p50 ([0-9.]+)(ns|µs|us|ms|s)\b", text)
    return float(found.group(1)) * units[found.group(2)] if found else None


def memory_table(rows):
    """The in-memory backend's criterion figures, if any."""
    if not rows:
        return ""
    lines = ["", "## In-memory backend (criterion, single thread)", "",
             "| benchmark | time |", "|---|---:|"]
    lines += [f"| `{name}` | {time} |" for name, time in rows]
    return "\n".join(lines) + "\n"


def window_section(path):
    """The window bench's two lines, as a section of their own."""
    lines = [line.strip() for line in open(path) if line.startswith(("fast path", "confirm"))]
    if not lines:
        return ""
    body = "\n".join(f"- {line}" for line in lines)
    return f"""
## The fast path's window

`cargo bench -p redis-debounce-benches --bench window`: two `Debouncer`s
(two app instances) on one loopback Redis; a debounced call on one, then
at once a `try_lock` of the same key on the other, 20,000 times. Without
`confirm` the other instance may meet the lock whose release is still on
its way; with `confirm` (web handlers' default) it never does:

{body}
"""


def main():
    path, docs, pairs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    memory_rows = criterion_rows(sys.argv[4]) if len(sys.argv) > 4 else []
    # The goal is the first benchmark's: the guard's acquire + release pair.
    memory_ns = nanoseconds(memory_rows[0][1]) if memory_rows else None
    wake_us = wake_p50_us(sys.argv[5]) if len(sys.argv) > 5 else None
    window = window_section(sys.argv[6]) if len(sys.argv) > 6 else ""
    rows = [json.loads(line) for line in open(path) if line.strip()]
    find = lambda name, mode: next((r for r in rows if r["name"] == name and r["mode"] == mode), None)

    table = ["| library | callers | calls/s | p50 (µs) | p99 (µs) |", "|---|---|---:|---:|---:|"]
    for r in rows:
        table.append(f"| {r['name']} | {r['mode']} | {r['calls_per_s']:,} | {r['p50_us']} | {r['p99_us']} |")

    ours = find("redis-debounce (async fn)", "1 caller")
    goals = []

    def verdict(label, value, goal, higher, shown):
        met = value >= goal if higher else value <= goal
        goals.append(f"| {label} | {shown} | {'≥' if higher else '≤'} {goal} | {'met' if met else 'missed'} |")

    def ratio(label, a, b, key, goal, higher):
        if not (a and b):
            return
        # Rounds pair the libraries up (each ran right after the other):
        # the median of the per-round ratios, where there are rounds.
        if key == "calls_per_s" and a.get("rounds") and len(a["rounds"]) == len(b.get("rounds", [])):
            value = statistics.median(x / y for x, y in zip(a["rounds"], b["rounds"]))
        else:
            value = a[key] / b[key]
        verdict(label, value, goal, higher, f"{value:.2f}")

    ratio("p50 latency, redis-debounce async fn / hand-written redis-rs (1 caller)",
          ours, find("redis-rs, hand-written", "1 caller"), "p50_us", 0.6, False)
    ratio("calls/s, redis-debounce / hand-written redis-rs (64 tasks)",
          find("redis-debounce (async fn)", "64 tasks"), find("redis-rs, hand-written", "64 tasks"), "calls_per_s", 1.0, True)
    ratio("calls/s, redis-debounce / redis-py Lock (1 caller)",
          ours, find("redis-py Lock", "1 caller"), "calls_per_s", 2.0, True)
    ratio("calls/s, redis-debounce / python-redis-lock (1 caller)",
          ours, find("python-redis-lock", "1 caller"), "calls_per_s", 2.5, True)
    if memory_ns is not None:
        verdict("in-memory backend, one acquire + release pair (ns)", memory_ns, 250, False, f"{memory_ns:.0f}")
    if wake_us is not None:
        verdict("`wait` mode, release-to-wake p50 on Redis (µs)", wake_us, 1000, False, f"{wake_us:.0f}")

    os.makedirs(docs, exist_ok=True)
    labels = [f"{r['name']}\n{r['mode']}" for r in rows]
    values = [r["calls_per_s"] for r in rows]
    colors = ["#c0392b" if r["name"].startswith("redis-debounce") else "#7f8c8d" for r in rows]
    fig, ax = plt.subplots(figsize=(10, 5.5))
    bars = ax.barh(labels[::-1], values[::-1], color=colors[::-1])
    ax.bar_label(bars, labels=[f"{v:,}" for v in values[::-1]], padding=3, fontsize=8)
    ax.set_xlabel("lock + release pairs per second (higher is better)")
    ax.set_title(f"One loopback redis-server, {pairs} pairs per library and mode, in 10 interleaved rounds")
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(docs, "benchmarks.png"), dpi=110)

    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu()})"
    text = f"""# Benchmarks

Side by side on one machine and one Redis: redis-debounce (a `#[debounce]`
async fn, and a sync fn), careful hand-written redis-rs (`SET NX PX` with a
token, then a compare-and-delete script), [rslock](https://crates.io/crates/rslock),
redis-py's `Lock` and [python-redis-lock](https://pypi.org/project/python-redis-lock/).
Each takes and releases a lock {pairs} times, one caller at a time; the Rust
ones also with 64 tasks at once (each task on its own key, one multiplexed
connection for redis-debounce and hand-written redis-rs). The Rust libraries
take turns: ten rounds (after one to warm up), each running every library
once in a rotating order, so that a slower stretch of the machine falls on
all of them; a redis-debounce round ends when Redis has run all of its
releases (`Debouncer::flush`), which the caller itself never waits for.

## Run it

```text
benches/compare/run
```

It installs what is missing (redis-server with apt, the Python libraries
into a venv), starts its own redis-server on a free loopback port, runs the
comparison and the criterion benches of the in-memory backend and of wait
mode's wake-ups, and rewrites this file and `docs/benchmarks.png`.

## Machine

- {machine}
- {version(["redis-server", "--version"])}
- {version(["rustc", "--version"])}; Python {platform.python_version()}
- {time.strftime("%Y-%m-%d")}; loopback; client and server share the two cores, so figures move
  from run to run by ±20%: compare ratios within one run

## Results

{chr(10).join(table)}

![pairs per second](benchmarks.png)

## Goals (issue 5)

| figure | measured | goal | |
|---|---:|---:|---|
{chr(10).join(goals)}

Throughput ratios are the median of the ten per-round ratios; the latency
ratio compares the p50s of all calls.
{memory_table(memory_rows)}{window}
## Where the figures come from

- A debounced call waits for the acquire's answer only. The release is
  written to the same multiplexed connection as the body returns (so Redis
  runs it before the caller's next request) and its answer is not awaited:
  no task, timer or channel per call. The caller sees one round trip where
  hand-written code waits for two.
- The acquire is a native `SET NX PX`; the release a compare-and-delete
  script of one `GET` and one `DEL` unless a waiter flagged the lock. It is
  sent as text, not by hash, so that it cannot meet a NOSCRIPT nobody would
  hear: that costs Redis about half a microsecond per release, which the
  client gives back.
- Per call, the client allocates the rendered key and, besides what
  redis-rs allocates for the two commands, nothing else; the in-memory
  backend allocates the key only (`tests/tests/allocations.rs`).

`cargo bench -p redis-debounce-benches` runs the criterion benches alone:
`memory`, `redis_call` (async and sync fns next to hand-written redis-rs,
one caller and 64 tasks) and `wake`.
"""
    # The topologies' section (benches/compare/topologies) is kept as it is.
    path = os.path.join(docs, "BENCHMARKS.md")
    start, end = "<!-- topologies -->", "<!-- /topologies -->"
    if os.path.exists(path):
        old = open(path).read()
        if start in old and end in old:
            kept = start + old.split(start, 1)[1].split(end, 1)[0] + end
            text = text.rstrip() + "\n\n" + kept + "\n"
    with open(path, "w") as out:
        out.write(text)


if __name__ == "__main__":
    main()
