"""Garbage collections with known counts and pauses, for test_python_gc.py.

Run as: collect.py MODE ROUNDS OUT. It makes reference cycles in a loop, so
the collector runs often, and times every collection with gc.callbacks.
Modes: "plain"; "saveall" sets gc.DEBUG_SAVEALL, so everything collected is
kept in gc.garbage, which grows; "legacy" also leaves UNCOLLECTABLE objects
a round that the collector cannot free (a legacy tp_del finalizer in a
cycle, made with _testcapi), which it counts as uncollectable and keeps in
gc.garbage. At the end it turns the collector off (so nothing
collects between its last look and the interpreter's teardown) and writes
to OUT, as JSON: gc.get_stats() at its start and at its end, each timed
collection (generation, pause in ns, collected, uncollectable) and
len(gc.garbage)."""
import gc
import sys
import time

gc.disable()  # nothing collects until the callback times it
TIMED = []
_started = [0]


def timing(phase, info):
    if phase == "start":
        _started[0] = time.perf_counter_ns()
    else:
        TIMED.append([info["generation"], time.perf_counter_ns() - _started[0],
                      info["collected"], info["uncollectable"]])


gc.callbacks.append(timing)
START = gc.get_stats()
gc.enable()


class Node:
    def __init__(self):
        self.other = None
        self.payload = [0] * 8


UNCOLLECTABLE = 5


def make_uncollectable(n):
    import _testcapi

    @_testcapi.with_tp_del
    class Legacy:
        def __tp_del__(self):
            pass

    for _ in range(n):
        a = Legacy()
        a.me = a  # a cycle through an object with a legacy finalizer


def make_cycles(n):
    for _ in range(n):
        a, b = Node(), Node()
        a.other, b.other = b, a  # cycle: only the collector frees it


mode, rounds, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if mode == "saveall":
    gc.set_debug(gc.DEBUG_SAVEALL)
for r in range(rounds):
    make_cycles(3000)
    if mode == "legacy":
        make_uncollectable(UNCOLLECTABLE)
    if r % 10 == 9:
        gc.collect()  # a full collection now and then
    time.sleep(0.02)
gc.disable()
END = gc.get_stats()
garbage = len(gc.garbage)
gc.set_debug(0)
gc.callbacks.remove(timing)

import json  # noqa: E402 (after the last collection it may cause)

with open(out, "w") as f:
    json.dump({"start": START, "end": END, "timed": TIMED, "garbage": garbage}, f)
