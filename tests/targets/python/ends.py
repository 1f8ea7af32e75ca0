"""A script that leaks and then ends normally, for test_python.py: it keeps
ROUNDS x PER_ROUND bytes objects of RECORD bytes (RECORD + 33 asked for
each) in a module-level list, says "kept N" on stderr, and returns. The
interpreter's teardown then frees them all."""
import sys
import time

RECORD = 20000
ROUNDS = 5
PER_ROUND = 40
KEPT = []


def keep():
    for _ in range(PER_ROUND):
        KEPT.append(bytes(RECORD))  # leak: kept


for _ in range(ROUNDS):
    keep()
    time.sleep(0.1)
print("kept %d record=%d" % (len(KEPT), RECORD), file=sys.stderr, flush=True)
