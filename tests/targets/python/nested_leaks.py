"""Leaks from nested Python functions, for the CFI unwinder's native stacks
through CPython (test_cfi_dynamic.py): outer -> middle -> leaf keeps
COUNT bytes objects of SIZE bytes each (one malloc of SIZE + 33 each: the
object header and the terminating NUL), waits SECONDS, and exits without
tearing the interpreter down, so they are still held. Prints nothing: its
output is leakwatch's when leakwatch starts it.
Usage: nested_leaks.py COUNT SIZE SECONDS
"""
import os
import sys
import time

KEEP = []


def leaf(size):
    KEEP.append(b"x" * size)


def middle(size):
    leaf(size)


def outer(count, size):
    for _ in range(count):
        middle(size)


outer(int(sys.argv[1]), int(sys.argv[2]))
time.sleep(float(sys.argv[3]))
os._exit(0)
