"""A Python service with known leaks, for test_python.py.

Speaks the targets' protocol (tests/targets/target_protocol.h): prints
"ready", waits for "go" on stdin, runs, prints "done K=V ...", waits for EOF.

After "go", for ROUNDS rounds of one request every PERIOD seconds:
  handle_request keeps a RECORD-byte bytes object in RECORDS, a module-level
    list that only grows (bytes(n) asks the allocator for n + 33 bytes with
    calloc: large objects bypass pymalloc);
  remember caches a CACHED-byte object per request in CACHE, up to
    CACHE_SLOTS entries, then stops: a cache that plateaus.
Modes (argv[1]):
  plain    the above, in the main thread
  threads  also a worker thread that leaks NATIVE bytes per request through
           ctypes.CDLL (the GIL released around the call) into LIB's
           lw_leak, while the main thread runs Python
  small    instead of the above, keep_small keeps SMALL_PER_ROUND small
           objects (SMALL bytes each) per round in SMALL_OBJECTS: they live
           in pymalloc's arenas, which grow 1 MiB at a time
  fork     the above run by WORKERS children made with os.fork(), each
           printing "child-done" when through; done names them
"""
import ctypes
import os
import signal
import sys
import threading
import time

MODE = sys.argv[1]
LIB = sys.argv[2] if len(sys.argv) > 2 else None
ROUNDS = int(os.environ.get("LW_ROUNDS", "40"))
PERIOD = float(os.environ.get("LW_PERIOD", "0.1"))
RECORD = 100000
CACHED = 20000
CACHE_SLOTS = 8
NATIVE = 30000
WORKERS = 2
SMALL = 67  # a 100-byte bytes object: pymalloc's 104-byte size class
SMALL_PER_ROUND = 2000
SMALL_OBJECTS = []

RECORDS = []
CACHE = {}


def make_record(n):
    return bytes(n)  # leak: record


def handle_request(i):
    RECORDS.append(make_record(RECORD))  # leak: request


def remember(i):
    if len(CACHE) < CACHE_SLOTS:
        CACHE[i] = bytes(CACHED)  # cache: fill


def keep_small():
    SMALL_OBJECTS.extend([bytes(SMALL) for _ in range(SMALL_PER_ROUND)])  # leak: small


def serve():
    if MODE == "small":
        for i in range(ROUNDS):
            keep_small()
            time.sleep(PERIOD)
        return
    for i in range(ROUNDS):
        handle_request(i)
        remember(i)
        time.sleep(PERIOD)


def native_worker(lib, stop):
    def call_into_c():
        lib.lw_leak(NATIVE)  # leak: native
    n = 0
    while n < ROUNDS:
        call_into_c()
        n += 1
        time.sleep(PERIOD)


def run():
    worker = None
    if MODE == "threads":
        lib = ctypes.CDLL(LIB)
        lib.lw_leak.argtypes = [ctypes.c_size_t]
        lib.lw_leak.restype = ctypes.c_void_p
        worker = threading.Thread(target=native_worker, args=(lib, None))
        worker.start()
    serve()
    if worker:
        worker.join()


def main():
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    if MODE == "fork":
        children = []
        for _ in range(WORKERS):
            child = os.fork()
            if child == 0:
                run()
                print("child-done", flush=True)
                signal.pause()
                os._exit(0)
            children.append(child)
        print("done children=%s record=%d rounds=%d" % (
            ",".join(map(str, children)), RECORD, ROUNDS), flush=True)
        sys.stdin.read()
        for child in children:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
        return
    run()
    print("done record=%d rounds=%d cached=%d slots=%d native=%d small=%d per_round=%d" % (
        RECORD, ROUNDS, CACHED, CACHE_SLOTS, NATIVE, SMALL, SMALL_PER_ROUND), flush=True)
    sys.stdin.read()


main()
