"""The Python side of the comparison: redis-py's Lock and python-redis-lock
on the same workload (take a lock on a key, release it), one caller.
Prints one JSON line per library.

python peers.py <host> <port> <pairs>
"""

import json
import sys
import time

import redis
import redis_lock


def report(name, latencies, elapsed):
    latencies.sort()
    at = lambda p: latencies[min(len(latencies) * p // 100, len(latencies) - 1)]
    print(json.dumps({
        "name": name,
        "mode": "1 caller",
        "calls_per_s": round(len(latencies) / elapsed),
        "p50_us": round(at(50) / 1e3, 1),
        "p99_us": round(at(99) / 1e3, 1),
    }))


def run(name, pairs, pair):
    for _ in range(pairs // 10):
        pair()
    latencies = []
    started = time.perf_counter_ns()
    for _ in range(pairs):
        at = time.perf_counter_ns()
        pair()
        latencies.append(time.perf_counter_ns() - at)
    report(name, latencies, (time.perf_counter_ns() - started) / 1e9)


def main():
    host, port, pairs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    conn = redis.Redis(host=host, port=port)

    def redis_py():
        lock = conn.lock("cmp:redis-py", timeout=30)
        assert lock.acquire(blocking=False)
        lock.release()

    def python_redis_lock():
        lock = redis_lock.Lock(conn, "cmp:python-redis-lock", expire=30)
        assert lock.acquire(blocking=False)
        lock.release()

    run("redis-py Lock", pairs, redis_py)
    run("python-redis-lock", pairs, python_redis_lock)


if __name__ == "__main__":
    main()
