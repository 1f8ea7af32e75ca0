"""The Python workload of make bench: allocations made from a fixed depth of
Python frames, for the cost of walking them.

Usage: python3 py_alloc.py DEPTH OPS [SIZE]
DEPTH Python frames (4 or more: the module's, main, nest's and work's, nest
recursing for the rest) lead to a loop that makes OPS bytes objects of SIZE
bytes (1000 by default) and drops each at once: one calloc and one free
each, from malloc above pymalloc's 512 bytes, from pymalloc at or below
(SIZE + 33 bytes are asked for). Speaks alloc_storm's protocol: prints "ready",
waits for "go" on stdin, prints "ops=N cpu_ns=T wall_ns=W" for the loop
alone, then exits.
"""
import sys
import time

def work(ops, size):
    t0, w0 = time.process_time_ns(), time.perf_counter_ns()
    for _ in range(ops):
        b = bytes(size)
        del b
    return time.process_time_ns() - t0, time.perf_counter_ns() - w0


def nest(levels, ops, size):
    # each level is one more Python frame above the loop's
    if levels:
        return nest(levels - 1, ops, size)
    return work(ops, size)


def main():
    depth, ops = int(sys.argv[1]), int(sys.argv[2])
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    if depth < 4:
        sys.exit("py_alloc.py: DEPTH is at least 4")
    cpu, wall = nest(depth - 4, ops, size)
    print("ops=%d cpu_ns=%d wall_ns=%d" % (ops, cpu, wall), flush=True)


main()
