/* LEAKWATCH_NO_FP: built -O2 -fomit-frame-pointer (the Makefile reads this line)
 *
 * nofp_dlopen - leaks through a library it dlopens after "go", so after
 * leakwatch attached: libnofp_plugin.so (tests/targets/plugin/), next to
 * this program, built without frame pointers too.
 *
 * Protocol: see target_protocol.h, with a second phase:
 *   "go"   -> dlopen, then one malloc(77) through the plugin, freed: the
 *             first call into code leakwatch has no table for yet
 *             -> "done"
 *   "leak" -> main -> call_plugin -> plugin_run -> plugin_mid -> plugin_leak:
 *             4 x malloc(4321), kept: 17284 B -> "leaked"
 * EOF ends it.
 */
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include "target_protocol.h"

static int (*plugin_run)(int n, int keep);
static volatile int four = 4;

SITE int call_plugin(int n, int keep)
{
	int r = plugin_run(n, keep);

	NO_TAIL();
	return r;
}

static void load(void)
{
	char exe[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	void *h;

	if (n <= 0)
		exit(1);
	exe[n] = 0;
	snprintf(path, sizeof(path), "%s/libnofp_plugin.so", dirname(exe));
	h = dlopen(path, RTLD_NOW);
	plugin_run = h ? (int (*)(int, int))dlsym(h, "plugin_run") : NULL;
	if (!plugin_run) {
		say("error cannot load %s", path);
		exit(1);
	}
}

int main(void)
{
	char line[64];

	if (!ready_wait_go())
		return 0;
	load();
	if (call_plugin(77, 0))
		return 1;
	say("done");
	while (read_line(line, sizeof(line)) >= 0) {
		if (strcmp(line, "leak"))
			continue;
		for (int i = 0; i < four; i++)
			if (call_plugin(4321, 1))
				return 1;
		say("leaked bytes=%d", 4 * 4321);
	}
	return 0;
}
