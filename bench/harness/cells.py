"""How a cell of the table reads: median (min–max) over the rounds, or a
dash where a server did not take part."""
import statistics

DASH = "—"


def med(xs):
    return statistics.median(xs) if xs else None


def spread(xs, fmt):
    if not xs:
        return DASH
    if len(xs) == 1:
        return fmt(xs[0])
    return f"{fmt(med(xs))} ({fmt(min(xs))}–{fmt(max(xs))})"


def ms(x):
    return f"{x:.2f}" if x < 10 else f"{x:.1f}"
