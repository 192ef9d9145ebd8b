"""Confidence intervals for the "Strategy tests" page (docs/strategies.md). Pure: numbers in, numbers out.

- a proportion k/n: Wilson's score interval (good at small n and near 0 or 1, never outside [0, 1]);
- the difference of two proportions (challenger − champion): Newcombe's hybrid score interval
  ("method 10", Newcombe 1998), built from the two Wilson intervals;
- a mean per case (contacts per case): the normal approximation, mean ± z·s/√n;
- a ratio of sums (amount collected per amount overdue): the delta method over per-case pairs.
Each returns (estimate, low, high), or None when there is nothing to estimate from."""

import math

Z95 = 1.959963984540054


def wilson(k, n, z=Z95):
    if not n:
        return None
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, max(0.0, centre - half), min(1.0, centre + half)


def newcombe_difference(k1, n1, k2, n2, z=Z95):
    """p1 − p2 with Newcombe's hybrid score interval (group 1: the challenger)."""
    a, b = wilson(k1, n1, z), wilson(k2, n2, z)
    if a is None or b is None:
        return None
    (p1, l1, u1), (p2, l2, u2) = a, b
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, low, high


def mean_interval(total, total_squares, n, z=Z95):
    if not n:
        return None
    mean = total / n
    if n < 2:
        return mean, mean, mean
    variance = max(0.0, (total_squares - n * mean * mean) / (n - 1))
    half = z * math.sqrt(variance / n)
    return mean, max(0.0, mean - half), mean + half


def ratio_interval(sx, sy, sxx, syy, sxy, n, z=Z95):
    """Σx / Σy over n cases (x collected, y overdue), with the delta method's standard error."""
    if not n or not sy:
        return None
    r = sx / sy
    mean_y = sy / n
    # Var of the ratio estimator: Σ(x − r·y)² / (n (n − 1) ȳ²)
    residual = max(0.0, sxx - 2 * r * sxy + r * r * syy)
    if n < 2:
        return r, r, r
    half = z * math.sqrt(residual / (n * (n - 1))) / mean_y
    return r, max(0.0, r - half), r + half


BETTER, WORSE, UNKNOWN = "better", "worse", "unknown"


def verdict(difference):
    """Better or worse only when the 95 % interval of the cure-rate difference excludes 0."""
    if difference is None:
        return UNKNOWN
    _d, low, high = difference
    if low > 0:
        return BETTER
    if high < 0:
        return WORSE
    return UNKNOWN
