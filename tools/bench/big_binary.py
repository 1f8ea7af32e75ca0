#!/usr/bin/python3
"""Writes the C source of make bench's large binary: SITES call sites, each
its own function with inlined helpers and local types, reached from main one
after another, plus FILLER functions that are never called but make the
text, symbol table and DWARF large, as in a real service's binary.

  big_binary.py SITES FILLER > big.c

Protocol as alloc_storm's: "ready", a line on stdin, then each site once
(malloc(32), kept: SITES distinct stacks), "ops=SITES", and it stays alive
until stdin closes, so its mappings can still be read.
"""
import sys


def main():
    sites, filler = int(sys.argv[1]), int(sys.argv[2])
    out = sys.stdout
    out.write("#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <unistd.h>\n\n")
    out.write("static volatile unsigned long sink;\n\n")
    for i in range(filler):
        out.write("struct rec%d { long a%d; double b%d; char name[%d]; };\n" % (i, i, i, 8 + i % 24))
        out.write("__attribute__((noinline)) long filler%d(struct rec%d *r, long n)\n{\n"
                  "\tlong acc = %d;\n\tfor (long k = 0; k < n; k++)\n"
                  "\t\tacc += r->a%d * k + (long)r->b%d + r->name[k %% %d];\n"
                  "\treturn acc;\n}\n\n" % (i, i, i, i, i, 8 + i % 24))
    for i in range(sites):
        out.write("static inline __attribute__((always_inline)) void *make%d(size_t n)\n{\n"
                  "\tvoid *p = malloc(n);\n\tsink += (unsigned long)p ^ %d;\n\treturn p;\n}\n\n"
                  % (i, i))
        out.write("__attribute__((noinline)) void *site%d(void)\n{\n\tvoid *p = make%d(32);\n"
                  "\t__asm__ volatile(\"\" ::: \"memory\");\n\treturn p;\n}\n\n" % (i, i))
    out.write("static void *(*const sites[])(void) = {\n")
    for i in range(sites):
        out.write("\tsite%d,\n" % i)
    out.write("};\n\n")
    out.write("""static void *kept[%d];

int main(void)
{
	char line[64];

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\\n");
	if (!fgets(line, sizeof(line), stdin))
		return 0;
	for (int i = 0; i < %d; i++)
		kept[i] = sites[i]();
	printf("ops=%d wall_ns=0 cpu_ns=0\\n");
	while (fgets(line, sizeof(line), stdin))
		;
	return 0;
}
""" % (sites, sites, sites))


if __name__ == "__main__":
    main()
