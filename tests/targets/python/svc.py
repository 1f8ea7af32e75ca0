"""A Python service that imports nothing from the standard library, for a
root that holds only the interpreter, its libraries and encodings (run with
-S -I). Speaks the targets' protocol: prints "ready", waits for "go" on
stdin, keeps ROUNDS RECORD-byte bytes objects (bytes(n) is one calloc of
n + 33 bytes), prints "done record=N rounds=N", waits for EOF.
"""
import sys

ROUNDS = 20
RECORD = 50000
KEPT = []


def keep(n):
    KEPT.append(bytes(n))  # leak: keep


def serve():
    for _ in range(ROUNDS):
        keep(RECORD)  # leak: serve


def main():
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    serve()  # leak: main
    print("done record=%d rounds=%d" % (RECORD, ROUNDS), flush=True)
    sys.stdin.read()


main()  # leak: module
