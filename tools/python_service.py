"""A small Python service for the manual's walk-through (docs/python.md):
every 50 ms it handles a request. Each request builds a parsed document
whose nodes point at their parent (reference cycles: only the garbage
collector frees them), keeps its response in a history that is never
trimmed (a leak, 20 KB a request), and every tenth request caches a
session (another leak, slower). Runs until killed."""
import time


class Node:
    def __init__(self, parent=None):
        self.parent = parent
        self.children = []
        if parent:
            parent.children.append(self)


HISTORY = []
SESSIONS = {}


def parse(request):
    root = Node()
    for _ in range(200):
        Node(Node(root))  # each child points back at its parent: cycles
    return root


def respond(request):
    return bytes(20000)


def handle(n):
    parse(n)
    HISTORY.append(respond(n))  # the response history, never trimmed
    if n % 10 == 0:
        SESSIONS[n] = bytearray(50000)  # sessions, never expired


n = 0
while True:
    handle(n)
    n += 1
    time.sleep(0.05)
