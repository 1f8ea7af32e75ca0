"""Two leaking lines, each reached by two call paths, for test_groups.py.

Speaks the targets' protocol (tests/targets/target_protocol.h): prints
"ready", waits for "go" on stdin, runs, prints "done K=V ...", waits for EOF.

After "go", ROUNDS rounds, one every PERIOD seconds; each round calls
path_one and path_two, and each of those calls keep_big and keep_small:
  keep_big keeps one BIG-byte bytes object (the line "# leak: big")
  keep_small keeps one SMALL-byte bytes object (the line "# leak: small")
so each line has two stacks (one per path) and leaks 2 objects a round.
bytes(n) asks the allocator for n + 33 bytes with calloc (large objects
bypass pymalloc); the objects are appended to KEPT on another line, so
nothing else is allocated on the two leaking lines.
"""
import os
import sys
import time

ROUNDS = int(os.environ.get("LW_ROUNDS", "30"))
PERIOD = float(os.environ.get("LW_PERIOD", "0.05"))
BIG = 60000
SMALL = 9000
KEPT = []


def keep_big():
    data = bytes(BIG)  # leak: big
    KEPT.append(data)


def keep_small():
    data = bytes(SMALL)  # leak: small
    KEPT.append(data)


def path_one():
    keep_big()
    keep_small()


def path_two():
    keep_big()
    keep_small()


def main():
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    for _ in range(ROUNDS):
        path_one()
        path_two()
        time.sleep(PERIOD)
    print("done rounds=%d big=%d small=%d per_round=2" % (ROUNDS, BIG, SMALL), flush=True)
    sys.stdin.read()


main()
