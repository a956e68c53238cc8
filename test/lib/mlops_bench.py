"""Helpers for the benchmarks under test/ (run by scripts/bench, not by the tests):
medians of repeated timings and one output line per figure."""
import statistics
import time


def median_seconds(fn, repeat=5, warmup=1):
    """Median wall time of fn() over `repeat` runs, after `warmup` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report(what, ours, peer, target="", unit="s"):
    """Prints one figure: ours vs peer (in `unit`) and their ratio, for scripts/bench."""
    ratio = ours / peer if peer else float("nan")
    print(f"BENCH\t{what}\t{ours:.4g} {unit}\t{peer:.4g} {unit}\t{ratio:.3f}\t{target}")
