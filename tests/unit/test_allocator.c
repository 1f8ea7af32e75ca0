// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* allocator.h: the plan for real processes (this test itself, the test
 * targets the Makefile builds, and two tiny programs built here), checked
 * against facts found here another way: where the dynamic linker bound
 * each name in this process (dlsym, dl_iterate_phdr), and where each
 * function lies in its file (the symbol tables, read with libelf as nm
 * would). */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libgen.h>
#include <limits.h>
#include <link.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>
#include "common/exitcodes.h"
#include "probes/allocator.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static char targets_dir[PATH_MAX];
/* A plan is large: one, outside the stack. */
static struct lw_plan plan;
static char why[512];

/* ---- facts found without allocator.c ---- */

struct elf_func {
	uint64_t offset, size; /* file offset of the function, its size */
};

/* name's definition in the ELF file at path, as nm lists it (.symtab or
 * .dynsym), and the file offset its address is loaded from. */
static bool elf_func(const char *path, const char *name, struct elf_func *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf_Scn *scn = NULL;
	bool found = false;
	uint64_t vaddr = 0;
	size_t nr_phdrs;
	Elf *elf;

	assert_true(fd >= 0);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	assert_non_null(elf);
	while (!found && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM))
			continue;
		data = elf_getdata(scn, NULL);
		for (size_t i = 0; data && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym s;
			const char *n;

			if (!gelf_getsym(data, i, &s) || s.st_shndx == SHN_UNDEF ||
			    GELF_ST_TYPE(s.st_info) != STT_FUNC)
				continue;
			n = elf_strptr(elf, sh.sh_link, s.st_name);
			if (n && !strcmp(n, name)) {
				vaddr = s.st_value;
				out->size = s.st_size;
				found = true;
				break;
			}
		}
	}
	if (found) {
		found = false;
		assert_int_equal(elf_getphdrnum(elf, &nr_phdrs), 0);
		for (size_t i = 0; i < nr_phdrs && !found; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(elf, i, &ph) && ph.p_type == PT_LOAD && vaddr >= ph.p_vaddr &&
			    vaddr < ph.p_vaddr + ph.p_filesz) {
				out->offset = vaddr - ph.p_vaddr + ph.p_offset;
				found = true;
			}
		}
	}
	elf_end(elf);
	close(fd);
	return found;
}

/* Where the dynamic linker bound name for this process: the file and the
 * offset in it of the address dlsym gives. */
struct binding {
	uintptr_t addr;
	char path[PATH_MAX];
	uint64_t offset;
	bool found;
};

static int find_object(struct dl_phdr_info *info, size_t size, void *ctx)
{
	struct binding *b = ctx;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type != PT_LOAD || b->addr < start || b->addr >= start + ph->p_memsz)
			continue;
		b->offset = b->addr - start + ph->p_offset;
		snprintf(b->path, sizeof(b->path), "%s",
			 info->dlpi_name[0] ? info->dlpi_name : "/proc/self/exe");
		b->found = true;
		return 1;
	}
	return 0;
}

static bool bound(const char *name, struct binding *b)
{
	memset(b, 0, sizeof(*b));
	b->addr = (uintptr_t)dlsym(RTLD_DEFAULT, name);
	if (b->addr)
		dl_iterate_phdr(find_object, b);
	return b->found;
}

static const char *base(const char *path)
{
	return strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
}

static bool same_file(const char *a, const char *b)
{
	struct stat x, y;

	return !stat(a, &x) && !stat(b, &y) && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* The path pid maps a file by whose name starts with prefix, read from
 * its maps here; false when none. */
static bool mapped(pid_t pid, const char *prefix, char *out, size_t len)
{
	char path[64], line[PATH_MAX + 128];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f)) {
		char *file = strchr(line, '/');

		if (!file)
			continue;
		file[strcspn(file, "\n")] = 0;
		if (!strncmp(base(file), prefix, strlen(prefix))) {
			snprintf(out, len, "%s", file);
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* How many distinct files pid maps. */
static int mapped_files(pid_t pid)
{
	char path[64], line[PATH_MAX + 128];
	unsigned long inodes[64];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long ino;
		bool seen = false;

		if (!strchr(line, '/') || sscanf(line, "%*s %*s %*s %*s %lu", &ino) != 1)
			continue;
		for (int i = 0; i < n; i++)
			seen |= inodes[i] == ino;
		if (!seen && n < (int)ARRAY_SIZE(inodes))
			inodes[n++] = ino;
	}
	fclose(f);
	return n;
}

/* ---- the plan's contents ---- */

/* allocator__plan for pid, which must succeed. */
static void plan_for(pid_t pid)
{
	int err = allocator__plan(pid, &plan, why, sizeof(why));

	if (err)
		fail_msg("allocator__plan(%d) = %d: %s", pid, err, why);
}

static const struct lw_object *object_of(const char *path)
{
	for (int i = 0; i < plan.nr_objects; i++)
		if (same_file(plan.objects[i].module, path))
			return &plan.objects[i];
	return NULL;
}

static const struct lw_probe *probe_at(const struct lw_object *o, uint64_t entry_offset)
{
	for (int i = 0; o && i < o->nr_probes; i++)
		if (o->probes[i].entry_offset == entry_offset)
			return &o->probes[i];
	return NULL;
}

static const struct lw_probe *probe_named(const struct lw_object *o, const char *symbol)
{
	for (int i = 0; o && i < o->nr_probes; i++)
		if (!strcmp(o->probes[i].symbol, symbol))
			return &o->probes[i];
	return NULL;
}

static int probes_named(const char *symbol)
{
	int n = 0;

	for (int i = 0; i < plan.nr_objects; i++)
		n += probe_named(&plan.objects[i], symbol) != NULL;
	return n;
}

/* The probe of name in the file at path: at the offset the symbol table
 * gives, of the kind leakwatch.h gives it, inside the function. */
static const struct lw_probe *check_probe(const char *path, const char *name, enum lw_func func)
{
	const struct lw_probe *p;
	struct elf_func f;

	assert_true(elf_func(path, name, &f));
	p = probe_at(object_of(path), f.offset);
	if (!p)
		fail_msg("%s: no probe at 0x%lx in %s", name, (unsigned long)f.offset, path);
	assert_int_equal(p->func, func);
	assert_int_equal(p->size, f.size);
	assert_true(p->offset >= f.offset && p->offset < f.offset + f.size);
	return p;
}

/* ---- processes to plan for ---- */

/* The process a test plans for, stopped after each test (pass or fail). */
static struct child {
	pid_t pid;
	int in; /* its stdin: closing it ends a test target */
} c = { .pid = -1, .in = -1 };

/* Runs path with stdin and stdout on pipes; with a test target
 * (target_protocol.h), waits at most 10 s for its "ready". */
static void start(const char *path, bool target)
{
	int in[2], out[2];
	char buf[16] = "";
	struct pollfd p;
	ssize_t n = 0;

	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	c.pid = fork();
	assert_true(c.pid >= 0);
	if (!c.pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* none left behind if the test dies */
		dup2(in[0], 0);
		dup2(out[1], 1);
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	c.in = in[1];
	p = (struct pollfd){ .fd = out[0], .events = POLLIN };
	if (target && poll(&p, 1, 10000) == 1)
		n = read(out[0], buf, sizeof(buf) - 1);
	close(out[0]);
	if (target && (n < 6 || strncmp(buf, "ready\n", 6)))
		fail_msg("%s did not say ready", path);
}

static char state_of(pid_t pid)
{
	char path[64], line[512], *paren;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	paren = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
	fclose(f);
	return paren && paren[1] ? paren[2] : 0;
}

/* Waits at most 10 s until c runs path and sleeps in it (a program
 * without stdio says nothing). */
static void wait_asleep(const char *path)
{
	char exe[64];

	snprintf(exe, sizeof(exe), "/proc/%d/exe", c.pid);
	for (int i = 0; i < 10000; i++) {
		if (same_file(exe, path) && state_of(c.pid) == 'S')
			return;
		usleep(1000);
	}
	fail_msg("%s did not start", path);
}

static int stop(void **state)
{
	if (c.in >= 0)
		close(c.in);
	if (c.pid > 0) {
		kill(c.pid, SIGKILL);
		waitpid(c.pid, NULL, 0);
	}
	c.pid = c.in = -1;
	return 0;
}

static void target(char *buf, size_t len, const char *name)
{
	if (snprintf(buf, len, "%s/%s", targets_dir, name) >= (int)len || access(buf, X_OK))
		fail_msg("%s: not built (make targets)", buf);
}

/* ---- this process ---- */

/* Every C and C++ allocator name and the kind leakwatch.h gives it. */
static const struct {
	const char *name;
	enum lw_func func;
} c_api[] = {
	{ "malloc", LW_FUNC_MALLOC }, { "calloc", LW_FUNC_CALLOC },
	{ "realloc", LW_FUNC_REALLOC }, { "reallocarray", LW_FUNC_REALLOCARRAY },
	{ "posix_memalign", LW_FUNC_POSIX_MEMALIGN }, { "aligned_alloc", LW_FUNC_MEMALIGN },
	{ "memalign", LW_FUNC_MEMALIGN }, { "valloc", LW_FUNC_MALLOC },
	{ "pvalloc", LW_FUNC_MALLOC }, { "free", LW_FUNC_FREE }, { "mmap", LW_FUNC_MMAP },
	{ "munmap", LW_FUNC_MUNMAP }, { "mremap", LW_FUNC_MREMAP },
	/* libstdc++'s operator new: entry only (LW_FUNC_NEW, no return probe) */
	{ "_Znwm", LW_FUNC_NEW }, { "_Znam", LW_FUNC_NEW },
	{ "_ZnwmRKSt9nothrow_t", LW_FUNC_NEW }, { "_ZnwmSt11align_val_t", LW_FUNC_NEW },
	{ "_ZdlPv", LW_FUNC_DELETE }, { "_ZdaPv", LW_FUNC_DELETE }, { "_ZdlPvm", LW_FUNC_DELETE },
	{ "_ZdlPvSt11align_val_t", LW_FUNC_DELETE },
};

/* Whether the machine code at addr only jumps elsewhere (x86-64: an
 * optional endbr64, then jmp rel8, rel32 or indirect). */
static bool jumps_on(const uint8_t *code)
{
	if (code[0] == 0xf3 && code[1] == 0x0f && code[2] == 0x1e && code[3] == 0xfa)
		code += 4;
	return code[0] == 0xe9 || code[0] == 0xeb || (code[0] == 0xff && ((code[1] >> 3) & 7) == 4);
}

static void test_this_process(void **state)
{
	struct binding b, libc;
	const struct lw_object *o;
	int bound_names = 0;

	plan_for(getpid());
	assert_true(plan.link_order);
	assert_true(bound("malloc", &libc));
	assert_string_equal(base(libc.path), "libc.so.6");
	/* the banner's object: the one that defines malloc */
	assert_true(same_file(allocator__main_object(&plan)->module, libc.path));

	/* each name at the definition the dynamic linker chose for us */
	for (size_t i = 0; i < ARRAY_SIZE(c_api); i++) {
		const struct lw_probe *p;
		struct elf_func f;

		if (!bound(c_api[i].name, &b))
			continue;
		bound_names++;
		o = object_of(b.path);
		if (!o)
			fail_msg("%s: bound in %s, which the plan lacks", c_api[i].name, b.path);
		p = probe_at(o, b.offset);
		if (!p)
			fail_msg("%s: no probe at 0x%lx in %s", c_api[i].name, (unsigned long)b.offset,
				 b.path);
		assert_int_equal(p->func, c_api[i].func);
		/* and the file's symbol table says the same */
		assert_true(elf_func(b.path, c_api[i].name, &f));
		assert_int_equal(f.offset, b.offset);
		assert_int_equal(p->size, f.size);
		assert_true(p->offset >= p->entry_offset && p->offset < p->entry_offset + p->size);
#ifdef __x86_64__
		/* libstdc++'s deletes that only jump on to free are left to free */
		if (c_api[i].func == LW_FUNC_DELETE)
			assert_int_equal(p->skipped, jumps_on((const uint8_t *)b.addr));
		else
			assert_false(p->skipped);
#endif
	}
	/* this binary links libstdc++: its operator new and delete were seen */
	assert_true(bound("_Znwm", &b));
	assert_true(bound_names >= 18);
	/* libstdc++'s own operator new: nothing is return-probed for it */
	assert_null(plan.new_return_probed);

	/* aliases (glibc's memalign and aligned_alloc) are probed once */
	for (int i = 0; i < plan.nr_objects; i++)
		for (int j = 0; j < plan.objects[i].nr_probes; j++)
			for (int k = j + 1; k < plan.objects[i].nr_probes; k++)
				assert_true(plan.objects[i].probes[j].entry_offset !=
					    plan.objects[i].probes[k].entry_offset);
	if (bound("memalign", &b) && bound("aligned_alloc", &libc) && b.addr == libc.addr)
		assert_int_equal(probes_named("memalign") + probes_named("aligned_alloc"), 1);

	/* allocators this process does not have are not planned */
	for (size_t i = 0; i < 4; i++) {
		static const char *const absent[] = { "je_malloc", "tc_malloc", "mi_malloc",
						      "mallocx" };

		assert_false(bound(absent[i], &b));
		assert_int_equal(probes_named(absent[i]), 0);
	}
}

/* ---- other processes ---- */

/* tcmalloc linked in: it defines malloc, free, operator new and mmap
 * ahead of libc. */
static void test_linked_tcmalloc(void **state)
{
	char exe[PATH_MAX], tc[PATH_MAX], libc[PATH_MAX], chosen[PATH_MAX + 64];
	const struct lw_probe *p;

	target(exe, sizeof(exe), "allocs-tcmalloc_minimal");
	start(exe, true);
	assert_true(mapped(c.pid, "libtcmalloc_minimal.so", tc, sizeof(tc)));
	assert_true(mapped(c.pid, "libc.so.6", libc, sizeof(libc)));
	plan_for(c.pid);
	assert_true(plan.link_order);

	p = check_probe(tc, "malloc", LW_FUNC_MALLOC);
	/* tcmalloc comes before libc in lookup order, which also defines it */
	snprintf(chosen, sizeof(chosen), ", before %s", base(libc));
	assert_non_null(strstr(p->chosen, chosen));
	check_probe(tc, "free", LW_FUNC_FREE);
	assert_true(same_file(allocator__main_object(&plan)->module, tc));
	/* libc's malloc and free hidden behind it: not probed */
	assert_null(probe_named(object_of(libc), "malloc"));
	assert_null(probe_named(object_of(libc), "free"));

	/* an operator new outside libstdc++ is a malloc: return-probed */
	check_probe(tc, "_Znwm", LW_FUNC_MALLOC);
	assert_non_null(plan.new_return_probed);
	assert_true(same_file(plan.new_return_probed, tc));

	/* mmap twice: tcmalloc's for the program, libc's for libc's own calls */
	check_probe(tc, "mmap", LW_FUNC_MMAP);
	p = check_probe(libc, "mmap", LW_FUNC_MMAP);
	snprintf(chosen, sizeof(chosen), "the program's go to %s", base(tc));
	assert_non_null(strstr(p->chosen, chosen));
}

/* An executable with its own je_-prefixed allocator, beside libc's. */
static void test_own_prefixed_allocator(void **state)
{
	char exe[PATH_MAX], libc[PATH_MAX];

	target(exe, sizeof(exe), "own_alloc");
	start(exe, true);
	assert_true(mapped(c.pid, "libc.so.6", libc, sizeof(libc)));
	plan_for(c.pid);
	check_probe(exe, "je_malloc", LW_FUNC_MALLOC);
	check_probe(exe, "je_calloc", LW_FUNC_CALLOC);
	check_probe(exe, "je_realloc", LW_FUNC_REALLOC);
	check_probe(exe, "je_free", LW_FUNC_FREE);
	assert_non_null(strstr(probe_named(object_of(exe), "je_malloc")->chosen,
			       "the only object defining it"));
	/* libc still serves itself, and is still probed */
	check_probe(libc, "malloc", LW_FUNC_MALLOC);
	check_probe(libc, "free", LW_FUNC_FREE);
	assert_int_equal(probes_named("je_malloc"), 1);
}

/* A C++ program with its own operator new: the executable's comes first,
 * needs its return probe, and libstdc++'s is not probed. */
static void test_own_operator_new(void **state)
{
	char exe[PATH_MAX], cxx[PATH_MAX];

	target(exe, sizeof(exe), "cxx_own_new");
	start(exe, true);
	assert_true(mapped(c.pid, "libstdc++.so", cxx, sizeof(cxx)));
	plan_for(c.pid);
	check_probe(exe, "_Znwm", LW_FUNC_MALLOC);
	assert_non_null(plan.new_return_probed);
	assert_true(same_file(plan.new_return_probed, exe));
	assert_null(probe_named(object_of(cxx), "_Znwm"));
	assert_int_equal(probes_named("_Znwm"), 1);
}

/* Static with a symbol table: no linker list, the executable alone. */
static void test_static(void **state)
{
	char exe[PATH_MAX];
	const struct lw_probe *p;

	target(exe, sizeof(exe), "own_alloc_static");
	start(exe, true);
	assert_int_equal(mapped_files(c.pid), 1);
	plan_for(c.pid);
	assert_false(plan.link_order);
	assert_int_equal(plan.nr_objects, 1);
	p = check_probe(exe, "malloc", LW_FUNC_MALLOC);
	assert_non_null(strstr(p->chosen, "the only object defining it"));
	check_probe(exe, "free", LW_FUNC_FREE);
}

/* Static and stripped: refused, the executable named, nothing planned. */
static void test_static_stripped(void **state)
{
	char exe[PATH_MAX], pid[32];

	target(exe, sizeof(exe), "static_stripped");
	start(exe, true);
	assert_int_equal(allocator__plan(c.pid, &plan, why, sizeof(why)), LW_EXIT_TARGET);
	snprintf(pid, sizeof(pid), "PID %d", c.pid);
	assert_non_null(strstr(why, pid));
	assert_non_null(strstr(why, exe));
	assert_non_null(strstr(why, "statically linked and stripped"));
	assert_int_equal(plan.nr_objects, 0);
}

/* ---- programs built here: one without malloc, one without free ---- */

static char scratch[] = "/tmp/lw-unit-allocator-XXXXXX";

/* _start only: no libc, sleeping until killed. */
static const char no_libc_src[] =
	"#include <stddef.h>\n"
	"#ifdef WITH_MALLOC\n"
	"void *malloc(size_t n) { (void)n; return NULL; }\n"
	"#endif\n"
	"void _start(void)\n"
	"{\n"
	"	for (;;)\n"
	"#if defined(__x86_64__)\n"
	"		__asm__ volatile(\"syscall\" :: \"a\"(34) : \"rcx\", \"r11\", \"memory\"); /* pause */\n"
	"#elif defined(__aarch64__)\n"
	"		__asm__ volatile(\"mov x8, #73; mov x0, #0; mov x1, #0; mov x2, #0; mov x3, #0; svc #0\"\n"
	"				 ::: \"x0\", \"x1\", \"x2\", \"x3\", \"x8\", \"memory\"); /* ppoll */\n"
	"#else\n"
	"#error no pause for this architecture\n"
	"#endif\n"
	"}\n";

static void build(char *out, size_t len, const char *name, const char *defines)
{
	char src[PATH_MAX], cmd[PATH_MAX * 3];
	FILE *f;

	snprintf(src, sizeof(src), "%s/no_libc.c", scratch);
	f = fopen(src, "we");
	assert_non_null(f);
	assert_int_equal(fputs(no_libc_src, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	snprintf(out, len, "%s/%s", scratch, name);
	snprintf(cmd, sizeof(cmd), "cc -O1 -g0 -static -nostdlib -fno-builtin %s -o %s %s",
		 defines, out, src);
	if (system(cmd))
		fail_msg("cannot build %s: %s", name, cmd);
}

static void expect_missing(const char *name, const char *defines, const char *missing)
{
	char exe[PATH_MAX], want[128];

	build(exe, sizeof(exe), name, defines);
	start(exe, false);
	wait_asleep(exe);
	assert_int_equal(allocator__plan(c.pid, &plan, why, sizeof(why)), LW_EXIT_TARGET);
	snprintf(want, sizeof(want), "no allocator found in PID %d: none of its %d mapped objects "
		 "defines %s", c.pid, mapped_files(c.pid), missing);
	if (!strstr(why, want))
		fail_msg("got \"%s\", want \"%s\"", why, want);
	/* it has a symbol table: not the stripped case */
	assert_null(strstr(why, "stripped, so"));
}

static void test_no_malloc(void **state)
{
	expect_missing("no_malloc", "", "malloc");
}

static void test_no_free(void **state)
{
	expect_missing("no_free", "-DWITH_MALLOC", "free");
}

/* A process that is gone: its map cannot be read. */
static void test_no_process(void **state)
{
	char want[64];
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (!pid)
		_exit(0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(allocator__plan(pid, &plan, why, sizeof(why)), LW_EXIT_TARGET);
	snprintf(want, sizeof(want), "cannot read the memory map of PID %d", pid);
	assert_non_null(strstr(why, want));
}

static int scratch_up(void **state)
{
	return mkdtemp(scratch) ? 0 : -1;
}

static int scratch_down(void **state)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", scratch);
	return system(cmd) ? -1 : 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_this_process, stop),
		cmocka_unit_test_teardown(test_linked_tcmalloc, stop),
		cmocka_unit_test_teardown(test_own_prefixed_allocator, stop),
		cmocka_unit_test_teardown(test_own_operator_new, stop),
		cmocka_unit_test_teardown(test_static, stop),
		cmocka_unit_test_teardown(test_static_stripped, stop),
		cmocka_unit_test_teardown(test_no_malloc, stop),
		cmocka_unit_test_teardown(test_no_free, stop),
		cmocka_unit_test_teardown(test_no_process, stop),
	};
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0 || elf_version(EV_CURRENT) == EV_NONE)
		return 1;
	exe[n] = 0;
	/* build/tests/unit/test_allocator -> build/tests/targets */
	strcat(dirname(exe), "/../targets");
	if (!realpath(exe, targets_dir))
		return 1;
	return cmocka_run_group_tests(tests, scratch_up, scratch_down);
}
