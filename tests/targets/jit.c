/*
 * jit - allocates from machine code it generates in anonymous executable
 * memory, and names that code in a perf map (/tmp/perf-PID.map) as JIT
 * runtimes do (python -X perf, node --perf-basic-prof).
 *
 * Protocol: see target_protocol.h. Before "ready" it maps one page, writes
 * a function there (push rbp; mov rbp, rsp; mov edi, 4321; movabs rax,
 * malloc; call rax; pop rbp; ret: it keeps a frame pointer, so the walk
 * goes on past it) and the map line "ADDR SIZE jit_make_buffer". After
 * "go": call_jit -> the generated code -> malloc(4321), 5 times, pointers
 * dropped: 21605 B in 5. Then "done"; at EOF it removes its perf map.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "target_protocol.h"

#define JIT_SIZE 4321

static void *(*jit_fn)(void);
static char perf_map[64];

static size_t emit(uint8_t *code)
{
	void *(*target)(size_t) = malloc;
	uint64_t where = (uint64_t)(uintptr_t)target;
	uint32_t size = JIT_SIZE;
	size_t n = 0;

	code[n++] = 0x55;                                     /* push %rbp */
	code[n++] = 0x48, code[n++] = 0x89, code[n++] = 0xe5; /* mov %rsp,%rbp */
	code[n++] = 0xbf;                                     /* mov $size,%edi */
	memcpy(code + n, &size, 4), n += 4;
	code[n++] = 0x48, code[n++] = 0xb8;                   /* movabs $malloc,%rax */
	memcpy(code + n, &where, 8), n += 8;
	code[n++] = 0xff, code[n++] = 0xd0;                   /* call *%rax */
	code[n++] = 0x5d;                                     /* pop %rbp */
	code[n++] = 0xc3;                                     /* ret */
	return n;
}

SITE void call_jit(void)
{
	for (int i = 0; i < 5; i++) {
		drop(jit_fn());
		NO_TAIL();
	}
}

int main(void)
{
	uint8_t *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t len;
	FILE *f;

	if (page == MAP_FAILED)
		return 1;
	len = emit(page);
	if (mprotect(page, 4096, PROT_READ | PROT_EXEC))
		return 1;
	jit_fn = (void *(*)(void))page;
	snprintf(perf_map, sizeof(perf_map), "/tmp/perf-%d.map", getpid());
	f = fopen(perf_map, "w");
	if (!f)
		return 1;
	fprintf(f, "%lx %zx jit_make_buffer\n", (unsigned long)(uintptr_t)page, len);
	fclose(f);

	if (!ready_wait_go()) {
		unlink(perf_map);
		return 0;
	}
	call_jit();
	put_str("done\n");
	wait_eof();
	unlink(perf_map);
	return 0;
}
