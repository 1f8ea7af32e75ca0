// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* symbolize.h on this test's own process (and a fork of it): addresses
 * resolve to the function the test knows is there (its own, and libc's as
 * dladdr names it), what an offset means is asked of the worker once and
 * kept per module (shared by every process mapping the file, kept after
 * the process is forgotten), unmapped memory and code no file holds get
 * the documented fallbacks, and a pid's view changes only when it is
 * read again (at most once a round for an unknown address). The worker
 * is the real one: this binary serves as it (see main), dropping to
 * nobody, so the test needs root. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <link.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>
#include "common/proc.h"
#include "symbols/symbol_worker.h"
#include "symbols/symbolize.h"
#include "symbols/worker_wire.h"

static struct symbolizer *s;
static pid_t child = -1;

/* Functions of this binary to find: no calls, nothing inlined into them. */
#ifdef __clang__
#define OWN __attribute__((noinline, used))
#else
#define OWN __attribute__((noinline, noclone, used))
#endif

static const int marker_first = __LINE__ + 1;
OWN int lw_test_marker(int x)
{
	__asm__ volatile("" : "+r"(x));
	return x * 3 + 1;
}
static const int marker_last = __LINE__ - 1;

/* Another one, for a first lookup after the cached ones. */
OWN int lw_test_other(int x)
{
	__asm__ volatile("" : "+r"(x));
	return x * 5 + 2;
}

/* A return address inside f: the lookup is of the byte before it. */
static uint64_t inside(int (*f)(int))
{
	return (uint64_t)(uintptr_t)f + 1;
}

static bool same_file(const char *a, const char *b)
{
	struct stat x, y;

	return !stat(a, &x) && !stat(b, &y) && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* The file offset addr of this process is loaded from, found through the
 * dynamic linker's program headers. */
struct where {
	uint64_t addr, offset;
	bool found;
};

static int find_offset(struct dl_phdr_info *info, size_t size, void *ctx)
{
	struct where *w = ctx;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uint64_t start = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && w->addr >= start && w->addr < start + ph->p_memsz) {
			w->offset = w->addr - start + ph->p_offset;
			w->found = true;
			return 1;
		}
	}
	return 0;
}

/* The end of this binary's code, as loaded (its executable PT_LOAD). */
static int find_code_end(struct dl_phdr_info *info, size_t size, void *ctx)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			*(uint64_t *)ctx = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
			return 1;
		}
	}
	return 1; /* the first object is the executable */
}

static uint64_t file_offset(uint64_t addr)
{
	struct where w = { .addr = addr };

	dl_iterate_phdr(find_offset, &w);
	assert_true(w.found);
	return w.offset;
}

/* The function the code belongs to: the outermost of an inline chain. */
static const struct lw_sym *outermost(const struct lw_sym *sym)
{
	while (sym && sym->caller)
		sym = sym->caller;
	return sym;
}

static int setup(void **state)
{
	if (geteuid())
		return 0; /* each test skips */
	s = symbolizer__new();
	return s ? 0 : -1;
}

static int teardown(void **state)
{
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		child = -1;
	}
	symbolizer__free(s);
	s = NULL;
	return 0;
}

static void need_root(void)
{
	if (geteuid()) {
		print_message("the symbolizer worker runs as nobody: needs root\n");
		skip();
	}
}

static void test_own_function(void **state)
{
	uint64_t addr = inside(lw_test_marker);
	const struct lw_sym *sym;
	struct lw_frame f;
	const char *file;

	need_root();
	symbolizer__resolve(s, getpid(), addr, &f);
	assert_int_equal(f.addr, addr);
	assert_true(f.mapped_exec);
	assert_non_null(f.module);
	assert_true(same_file(f.module->path, "/proc/self/exe"));
	assert_false(f.module->stripped); /* built with -g, never stripped */
	assert_int_equal(f.module_offset, file_offset(addr));
	sym = f.sym;
	assert_non_null(sym);
	assert_null(sym->caller);
	assert_string_equal(sym->function, "lw_test_marker");
	assert_int_equal(sym->offset, 1);
	/* and its first instruction on one of its lines */
	assert_non_null(sym->file);
	file = strrchr(sym->file, '/') ? strrchr(sym->file, '/') + 1 : sym->file;
	assert_string_equal(file, "test_symbolize.c");
	assert_in_range(sym->line, marker_first, marker_last);
	/* the byte before the start is not the function any more */
	symbolizer__resolve(s, getpid(), (uint64_t)(uintptr_t)lw_test_marker, &f);
	assert_true(!f.sym || !f.sym->function || strcmp(f.sym->function, "lw_test_marker"));
}

/* A libc function: the name resolves back to where the function starts,
 * as dladdr finds it. */
static void test_libc_function(void **state)
{
	uint64_t addr = (uint64_t)(uintptr_t)dlsym(RTLD_DEFAULT, "malloc") + 4;
	const struct lw_sym *sym;
	struct lw_frame f;
	Dl_info info;

	need_root();
	assert_true(dladdr((void *)(uintptr_t)addr, &info));
	symbolizer__resolve(s, getpid(), addr, &f);
	assert_non_null(f.module);
	assert_true(same_file(f.module->path, info.dli_fname));
	assert_int_equal(f.module_offset, file_offset(addr));
	sym = outermost(f.sym);
	assert_non_null(sym);
	assert_non_null(sym->function);
	assert_int_equal(addr - sym->offset, (uint64_t)(uintptr_t)info.dli_saddr);
	/* an alias of malloc is malloc: the name leads to the same start */
	assert_ptr_equal(dlsym(RTLD_DEFAULT, sym->function), info.dli_saddr);
}

/* Repeated lookups are answered from the module's cache: with the worker
 * killed, still the same answer, and its death is noticed only by the
 * next lookup that needs it. */
static void test_repeated_lookups_are_cached(void **state)
{
	struct symbol_worker_stats st;
	const struct lw_sym *first;
	struct lw_frame f;
	pid_t worker;
	char path[64];

	need_root();
	symbolizer__resolve(s, getpid(), inside(lw_test_marker), &f);
	first = f.sym;
	assert_non_null(first);
	assert_string_equal(first->function, "lw_test_marker");
	symbolizer__resolve(s, getpid(), inside(lw_test_marker), &f);
	assert_ptr_equal(f.sym, first);

	worker = symbolizer__worker_pid(s);
	assert_true(worker > 0);
	assert_int_equal(kill(worker, SIGKILL), 0);
	/* gone: a zombie of ours (the worker's owner reaps it) */
	snprintf(path, sizeof(path), "/proc/%d/stat", worker);
	for (int i = 0; i < 5000; i++) {
		char line[256] = "", *paren;
		FILE *fp = fopen(path, "re");

		if (fp) {
			if (!fgets(line, sizeof(line), fp))
				line[0] = 0;
			fclose(fp);
		}
		paren = strrchr(line, ')');
		if (!paren || paren[2] == 'Z')
			break;
		usleep(1000);
	}

	for (int i = 0; i < 3; i++) {
		symbolizer__resolve(s, getpid(), inside(lw_test_marker), &f);
		assert_ptr_equal(f.sym, first);
	}
	symbolizer__worker_stats(s, &st);
	assert_int_equal(st.crashes, 0);

	/* a new offset needs the worker: a new one, and the loss counted */
	symbolizer__resolve(s, getpid(), inside(lw_test_other), &f);
	assert_non_null(f.sym);
	assert_string_equal(f.sym->function, "lw_test_other");
	symbolizer__worker_stats(s, &st);
	assert_int_equal(st.crashes, 1);
	assert_int_equal(st.modules_failed, 0);
	assert_true(symbolizer__worker_pid(s) > 0);
	assert_int_not_equal(symbolizer__worker_pid(s), worker);
}

/* Another process mapping the same files shares their modules and what
 * was found in them; forgetting it drops its view, not the modules. */
static void test_forget_drops_the_view(void **state)
{
	const struct lw_maps *maps;
	struct lw_module *const *mods;
	struct lw_frame mine, f;
	uint64_t addr = inside(lw_test_marker);

	need_root();
	symbolizer__resolve(s, getpid(), addr, &mine);
	assert_non_null(mine.sym);
	child = fork();
	assert_true(child >= 0);
	if (!child) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	/* the fork maps this binary where this process does */
	assert_int_equal(symbolizer__view(s, child, &maps, &mods), -ENOENT);
	symbolizer__resolve(s, child, addr, &f);
	assert_ptr_equal(f.module, mine.module);
	assert_ptr_equal(f.sym, mine.sym);
	assert_int_equal(symbolizer__view(s, child, &maps, &mods), 0);
	assert_true(maps->n > 0);

	/* gone, but its view kept: still resolved */
	assert_int_equal(kill(child, SIGKILL), 0);
	assert_int_equal(waitpid(child, NULL, 0), child);
	symbolizer__resolve(s, child, addr, &f);
	assert_ptr_equal(f.sym, mine.sym);

	/* forgotten: nothing left to resolve its addresses with */
	symbolizer__forget(s, child);
	assert_int_equal(symbolizer__view(s, child, &maps, &mods), -ENOENT);
	symbolizer__resolve(s, child, addr, &f);
	assert_int_equal(f.addr, addr);
	assert_null(f.module);
	assert_null(f.sym);
	assert_false(f.mapped_exec);
	child = -1;

	/* this process, and the module's cache, are untouched */
	symbolizer__resolve(s, getpid(), addr, &f);
	assert_ptr_equal(f.module, mine.module);
	assert_ptr_equal(f.sym, mine.sym);
}

/* Memory no file holds: nothing, or only that it is code; code of a
 * file no symbol covers: the module and offset, no function. */
static void test_unknown_addresses(void **state)
{
	uint64_t vdso = getauxval(AT_SYSINFO_EHDR), end = 0, page_end;
	struct lw_frame f;

	need_root();
	/* the first page is never mapped */
	symbolizer__resolve(s, getpid(), 0x10, &f);
	assert_int_equal(f.addr, 0x10);
	assert_null(f.module);
	assert_int_equal(f.module_offset, 0);
	assert_null(f.sym);
	assert_false(f.mapped_exec);

	/* past the last function, in the last page of this binary's code
	 * (padding, when the code does not end on a page boundary) */
	dl_iterate_phdr(find_code_end, &end);
	assert_true(end > 0);
	page_end = (end + sysconf(_SC_PAGESIZE) - 1) & ~(uint64_t)(sysconf(_SC_PAGESIZE) - 1);
	if (page_end - end >= 16) {
		symbolizer__resolve(s, getpid(), page_end - 8, &f);
		assert_true(f.mapped_exec);
		assert_non_null(f.module);
		assert_true(same_file(f.module->path, "/proc/self/exe"));
		assert_int_equal(f.module_offset, file_offset(end - 1) + (page_end - 8 - (end - 1)));
		assert_non_null(f.sym);
		assert_null(f.sym->function);
		assert_null(f.sym->file);
	}

	/* the vDSO: code, no file, no perf map naming it */
	if (vdso) {
		symbolizer__resolve(s, getpid(), vdso + 0x10, &f);
		assert_true(f.mapped_exec);
		assert_null(f.module);
		assert_null(f.sym);
	}
}

/* A pid's view is read again for an unknown address once a round; what
 * it mapped since shows then, and what it unmapped goes with a refresh.
 * A perf map names code no file holds. */
static void test_view_refresh(void **state)
{
	long page = sysconf(_SC_PAGESIZE);
	char perf[64];
	uint64_t jit;
	struct lw_frame f;
	FILE *fp;
	void *p;

	need_root();
	snprintf(perf, sizeof(perf), "/tmp/perf-%d.map", getpid());
	unlink(perf);
	assert_int_equal(symbolizer__refresh(s, getpid()), 0);
	p = mmap(NULL, 2 * page, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	jit = (uint64_t)(uintptr_t)p;

	/* read this round already: not seen yet */
	symbolizer__resolve(s, getpid(), jit + 0x20, &f);
	assert_false(f.mapped_exec);
	assert_null(f.sym);
	/* the next round reads it again */
	symbolizer__new_round(s);
	symbolizer__resolve(s, getpid(), jit + 0x20, &f);
	assert_true(f.mapped_exec);
	assert_null(f.module);
	assert_null(f.sym);

	/* named by the perf map the process writes (a JIT's) */
	fp = fopen(perf, "we");
	assert_non_null(fp);
	fprintf(fp, "%" PRIx64 " 40 lw_jit_thing\n", jit + 0x100);
	assert_int_equal(fclose(fp), 0);
	symbolizer__new_round(s);
	symbolizer__resolve(s, getpid(), jit + 0x110, &f);
	unlink(perf);
	assert_true(f.mapped_exec);
	assert_null(f.module);
	assert_non_null(f.sym);
	assert_string_equal(f.sym->function, "lw_jit_thing");
	assert_int_equal(f.sym->offset, 0x10);
	/* past its end: nothing */
	symbolizer__resolve(s, getpid(), jit + 0x141, &f);
	assert_true(f.mapped_exec);
	assert_null(f.sym);

	/* unmapped and read again: gone from the view */
	assert_int_equal(munmap(p, 2 * page), 0);
	assert_int_equal(symbolizer__refresh(s, getpid()), 0);
	symbolizer__resolve(s, getpid(), jit + 0x20, &f);
	assert_false(f.mapped_exec);
	assert_null(f.module);
	assert_null(f.sym);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_own_function, setup, teardown),
		cmocka_unit_test_setup_teardown(test_libc_function, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repeated_lookups_are_cached, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forget_drops_the_view, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_addresses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_refresh, setup, teardown),
	};

	/* the symbolizer worker execs this binary, as it does leakwatch */
	if (argc == 2 && !strcmp(argv[1], SYMBOL_WORKER_ARG))
		return symbol_worker__serve(WORKER_SOCK_FD);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
