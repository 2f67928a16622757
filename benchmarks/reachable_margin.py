"""Cost of :func:`labkit.bounds.reachable_margin` (notebook 02 section 3 and the margin warning of every head), the
figure that used to sit in a test as a "< 50 ms a call" assertion.

The cases: every C = 2..100 in K = 2..8 dimensions, plus three large ones (C = 1,000 / 5,000 / 10,572 in 64 / 128 /
512 dimensions). Each round clears the cache and calls every case once; the baseline, measured in the same run over
the same cases, is Eq. 7's closed form :func:`labkit.bounds.m_upper_bound`. Printed: the median and worst time of an
uncached call, a cached call, and the ratio of the medians against the baseline.

    python benchmarks/reachable_margin.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

from labkit.bounds import m_upper_bound, reachable_margin

CASES = [(c, k) for k in range(2, 9) for c in range(2, 101)] + [(10_572, 512), (5_000, 128), (1_000, 64)]


def per_call(fn, cases) -> list[float]:
    out = []
    for c, k in cases:
        t0 = time.perf_counter()
        fn(c, k)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5, help="repeats of the whole case list (default 5)")
    args = ap.parse_args()
    uncached, cached, base = [], [], []
    for _ in range(args.rounds):
        reachable_margin.cache_clear()
        uncached += per_call(reachable_margin, CASES)
        cached += per_call(reachable_margin, CASES)
        base += per_call(m_upper_bound, CASES)
    med = {k: statistics.median(v) for k, v in (("uncached", uncached), ("cached", cached), ("eq7", base))}
    print(f"{len(CASES)} cases x {args.rounds} rounds")
    print(f"reachable_margin, uncached: median {med['uncached'] * 1e3:.3f} ms, worst {max(uncached) * 1e3:.1f} ms, "
          f"mean {statistics.fmean(uncached) * 1e3:.2f} ms")
    print(f"reachable_margin, cached:   median {med['cached'] * 1e6:.1f} us")
    print(f"baseline m_upper_bound (Eq. 7 closed form): median {med['eq7'] * 1e6:.1f} us")
    print(f"ratio uncached / Eq. 7: {med['uncached'] / med['eq7']:.1f}x; cached / Eq. 7: {med['cached'] / med['eq7']:.2f}x")
    worst = max(zip(uncached, CASES * args.rounds))
    print(f"slowest case: C = {worst[1][0]}, K = {worst[1][1]} ({worst[0] * 1e3:.1f} ms)")


if __name__ == "__main__":
    main()
