"""A Python process whose frames test_python_symbols.py names from outside.

Prints one JSON line, then blocks until killed:
  codes: for nested functions, id(code) (CPython's id is the address), the
         qualname, file and first line;
  main/worker: each thread's tstate (PyThreadState_Get), pthread_self, native
         id, and the frames (qualname, line) it is blocked in, innermost
         first. The main thread blocks in a C call holding the GIL
         (ctypes.PyDLL), the worker in one without it (ctypes.CDLL).
Usage: frames.py LIBBLOCK
"""
import ctypes
import json
import sys
import threading

LIB = sys.argv[1]
nogil = ctypes.CDLL(LIB)
withgil = ctypes.PyDLL(LIB)
for lib in (nogil, withgil):
    lib.lw_self.restype = ctypes.c_ulong
    lib.lw_block.argtypes = [ctypes.POINTER(ctypes.c_int), ctypes.c_uint]
ctypes.pythonapi.PyThreadState_Get.restype = ctypes.c_void_p

report = {"version": list(sys.version_info[:3]), "codes": []}


def me(stack):
    """This thread's identity and the stack given as (qualname, line)."""
    return {"tstate": ctypes.pythonapi.PyThreadState_Get(),
            "pthread": nogil.lw_self(),
            "native_id": threading.get_native_id(),
            "stack": stack}


class Outer:
    def method(self, depth):
        def inner(n):
            if n:
                return inner(n - 1)
            return inner_frames()
        return inner(depth)


def inner_frames():
    """The code objects of the chain above, with their current lines."""
    f = sys._getframe(1)
    out = []
    while f is not None:
        c = f.f_code
        out.append({"code": id(c), "qualname": getattr(c, "co_qualname", c.co_name),
                    "filename": c.co_filename, "firstlineno": c.co_firstlineno,
                    "line": f.f_lineno, "lasti": f.f_lasti})
        f = f.f_back
    return out


def marker(text):
    """The line of this file that ends with the comment text."""
    with open(__file__) as f:
        for n, line in enumerate(f, 1):
            if line.rstrip().endswith("# " + text):
                return n
    raise LookupError(text)


def worker_body(entered, ready):
    def blocked_without_gil():
        report["worker"] = me([
            ("worker_body.<locals>.blocked_without_gil", marker("worker blocks")),
            ("worker_body", marker("worker calls"))])
        ready.set()
        nogil.lw_block(ctypes.byref(entered), 3600)  # worker blocks
    blocked_without_gil()  # worker calls


def hold_gil_and_report():
    entered = ctypes.c_int(0)
    ready = threading.Event()
    t = threading.Thread(target=worker_body, args=(entered, ready), daemon=True)
    t.start()
    ready.wait()
    while not entered.value:
        threading.Event().wait(0.01)
    report["codes"] = Outer().method(3)
    report["main"] = me([("hold_gil_and_report", marker("main blocks")),
                         ("<module>", marker("module calls"))])
    print(json.dumps(report), flush=True)
    withgil.lw_block(ctypes.byref(ctypes.c_int()), 3600)  # main blocks


hold_gil_and_report()  # module calls
