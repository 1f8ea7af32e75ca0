/*
 * symbols - leak sites whose frames leakwatch must name as a debugger
 * would: an allocation inside an inlined helper, and a plain one. The
 * test reads the expected lines from the markers in this file.
 *
 * Protocol: see target_protocol.h. After "go", main ->
 *   store_records -> make_record (always inlined)  4 x malloc(640): 2560 B, 4
 *   leak_plain                                     3 x malloc(320):  960 B, 3
 * pointers dropped; then "done", and EOF ends it.
 */
#include <stdlib.h>
#include "target_protocol.h"

static inline __attribute__((always_inline)) void *make_record(size_t n)
{
	return malloc(n); /* MARK: make_record malloc */
}

SITE void store_records(void)
{
	for (int i = 0; i < 4; i++) {
		drop(make_record(640)); /* MARK: store_records call */
		NO_TAIL();
	}
}

SITE void leak_plain(void)
{
	for (int i = 0; i < 3; i++) {
		drop(malloc(320)); /* MARK: leak_plain malloc */
		NO_TAIL();
	}
}

int main(void)
{
	if (!ready_wait_go())
		return 0;
	store_records();
	leak_plain();
	put_str("done\n");
	wait_eof();
	return 0;
}
