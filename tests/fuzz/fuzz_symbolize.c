// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target over what the symbolizer worker does with a file a
 * target maps: open it as an ELF object, read its build-id, debuglink and
 * symbol tables, and resolve addresses in it. The parsing is elfutils',
 * which is not built with coverage here, so blind byte mutations of whole
 * files rarely get past its first checks: an input is instead a list of
 * patches to one of the seed objects (real executables with DWARF, from
 * LW_FUZZ_SEEDS), so every run feeds libdw an object that is valid but for
 * a few bytes. A crash found here is one the worker (symbol_worker.c) must
 * survive; LW_FUZZ_DUMP=FILE writes the patched object of an input, for
 * feeding it to leakwatch.
 *
 *   make fuzz FUZZ_SECONDS=600    # longer runs; crashes land in build/fuzz/
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "symbols/cfi.h"
#include "symbols/dwarf_lookup.h"
#include "symbols/symbolize.h"

#define MAX_SEEDS 16
#define MAX_PATCHES 64

static struct {
	uint8_t *data;
	size_t size;
} seeds[MAX_SEEDS];
static int nr_seeds;

static void load_seed(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) || !st.st_size ||
	    nr_seeds == MAX_SEEDS) {
		if (fd >= 0)
			close(fd);
		return;
	}
	seeds[nr_seeds].data = malloc(st.st_size);
	if (seeds[nr_seeds].data && read(fd, seeds[nr_seeds].data, st.st_size) == st.st_size &&
	    !memcmp(seeds[nr_seeds].data, "\177ELF", 4))
		seeds[nr_seeds++].size = st.st_size;
	close(fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("LW_FUZZ_SEEDS");
	struct dirent *e;
	DIR *d = dir ? opendir(dir) : NULL;

	/* well inside libFuzzer's -timeout: a table libdw is slow to read is
	 * given up, as the worker gives it up (its budget is longer) */
	cfi_build_budget_s = 2;
	while (d && (e = readdir(d))) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		load_seed(path);
	}
	if (d)
		closedir(d);
	if (!nr_seeds) {
		fprintf(stderr, "fuzz_symbolize: set LW_FUZZ_SEEDS to a directory of ELF objects\n");
		exit(2);
	}
	return 0;
}

/* data[0] picks the seed; then records of (u32 offset, u8 length, bytes). */
static uint8_t *patched(const uint8_t *data, size_t size, size_t *out_size)
{
	const uint8_t *p = data + 1, *end = data + size;
	uint8_t *obj;
	int seed;

	if (!size)
		return NULL;
	seed = data[0] % nr_seeds;
	obj = malloc(seeds[seed].size);
	if (!obj)
		return NULL;
	memcpy(obj, seeds[seed].data, seeds[seed].size);
	*out_size = seeds[seed].size;
	for (int i = 0; i < MAX_PATCHES && end - p >= 5; i++) {
		uint32_t off;
		size_t len = p[4];

		memcpy(&off, p, 4);
		p += 5;
		if (len > (size_t)(end - p))
			len = end - p;
		off %= *out_size;
		if (len > *out_size - off)
			len = *out_size - off;
		memcpy(obj + off, p, len);
		p += len;
	}
	return obj;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *dump = getenv("LW_FUZZ_DUMP");
	struct dwarf_module *m;
	char build_id[41];
	size_t obj_size = 0;
	uint8_t *obj = patched(data, size, &obj_size);
	int fd;

	if (!obj)
		return 0;
	if (dump) {
		FILE *f = fopen(dump, "we");

		if (f) {
			fwrite(obj, 1, obj_size, f);
			fclose(f);
		}
	}
	fd = memfd_create("fuzz-object", MFD_CLOEXEC);
	if (fd < 0 || write(fd, obj, obj_size) != (ssize_t)obj_size) {
		if (fd >= 0)
			close(fd);
		free(obj);
		return 0;
	}
	free(obj);
	m = dwarf_module__open(fd, "/fuzz/object");
	if (!m)
		return 0;
	dwarf_module__build_id(m, build_id);
	dwarf_module__debuglink(m);
	dwarf_module__stripped(m);
	/* addresses all over the file: the lookups that reach line tables,
	 * DIEs and inline scopes are in its code */
	for (size_t i = 1; i <= 64; i++)
		lw_sym__free(dwarf_module__lookup(m, obj_size * i / 65));
	/* and the unwind table the worker builds from the same file */
	{
		struct cfi_table t;

		if (dwarf_module__cfi(m, &t) == 0)
			cfi_table__free(&t);
	}
	dwarf_module__free(m);
	return 0;
}
