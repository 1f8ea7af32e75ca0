/*
 * app - calls into libleakc.so (loaded from /opt/lib, inside its root).
 *
 * Protocol: see ../target_protocol.h; after "go", main -> leak_in_container
 * (5 x 4242 B, kept); "done bytes=21210".
 */
#include "../target_protocol.h"

void leak_in_container(void **keep);

static void *keep[5];

int main(void)
{
	if (!ready_wait_go())
		return 0;
	leak_in_container(keep);
	NO_TAIL();
	say("done bytes=%d", 5 * 4242);
	wait_eof();
	return 0;
}
