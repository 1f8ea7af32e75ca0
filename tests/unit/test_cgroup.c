// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* cgroup.h: mountinfo and /proc/PID/cgroup lines, container ids in the
 * forms runtimes give their cgroups, and proc__ns_pid. The inputs are
 * lines as real hosts show them (systemd v2, hybrid, Kubernetes with both
 * cgroup drivers, rootless Podman). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <unistd.h>
#include <sys/wait.h>
#include <setjmp.h>
#include <cmocka.h>
#include "targets/cgroup.h"
#include "common/proc.h"

#define ID_A "3f2a9c1b7d4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789abcd"
#define ID_B "3f2a9c1b7d4e000000000000000000000000000000000000000000000000beef"
#define POD "pod8d2f1c9a-4b3e-4a6f-9e1d-2c7b5a8f0e31"
#define POD_SYSTEMD "pod8d2f1c9a_4b3e_4a6f_9e1d_2c7b5a8f0e31"

static void test_mountinfo_v2_unified(void **state)
{
	struct lw_cg_mount m;

	assert_int_equal(cgroup__parse_mountinfo_line(
		"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n", &m), 0);
	assert_true(m.v2);
	assert_string_equal(m.point, "/sys/fs/cgroup/unified");
	assert_string_equal(m.root, "");
	assert_string_equal(m.opts, "rw");
}

/* Optional fields (shared:N) before the separator; nsdelegate options. */
static void test_mountinfo_v2_systemd(void **state)
{
	struct lw_cg_mount m;

	assert_int_equal(cgroup__parse_mountinfo_line(
		"35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 "
		"cgroup2 rw,nsdelegate,memory_recursiveprot", &m), 0);
	assert_true(m.v2);
	assert_string_equal(m.point, "/sys/fs/cgroup");
	assert_string_equal(m.opts, "rw,nsdelegate,memory_recursiveprot");
}

static void test_mountinfo_v1_controllers(void **state)
{
	struct lw_cg_mount m;

	assert_int_equal(cgroup__parse_mountinfo_line(
		"27 26 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:8 - "
		"cgroup cgroup rw,cpu,cpuacct\n", &m), 0);
	assert_false(m.v2);
	assert_string_equal(m.point, "/sys/fs/cgroup/cpu,cpuacct");
	assert_true(cgroup__mount_has(&m, "cpu,cpuacct"));
	assert_true(cgroup__mount_has(&m, "cpuacct,cpu"));
	assert_true(cgroup__mount_has(&m, "cpu"));
	assert_false(cgroup__mount_has(&m, "cpuset"));
	assert_false(cgroup__mount_has(&m, "memory"));
	assert_false(cgroup__mount_has(&m, ""));

	assert_int_equal(cgroup__parse_mountinfo_line(
		"40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup "
		"rw,xattr,name=systemd", &m), 0);
	assert_true(cgroup__mount_has(&m, "name=systemd"));
	assert_false(cgroup__mount_has(&m, "name=elogind"));
}

/* Inside a container without its own cgroup namespace: the mount shows a
 * subtree, and a blank in the mount point is \040. */
static void test_mountinfo_root_and_escapes(void **state)
{
	struct lw_cg_mount m;
	char dir[PATH_MAX];

	assert_int_equal(cgroup__parse_mountinfo_line(
		"1204 1198 0:30 /system.slice/docker-" ID_A ".scope /sys/fs/cgroup\\040x ro,nosuid - "
		"cgroup2 cgroup rw", &m), 0);
	assert_string_equal(m.point, "/sys/fs/cgroup x");
	assert_string_equal(m.root, "/system.slice/docker-" ID_A ".scope");
	assert_int_equal(cgroup__dir_of(&m, "/system.slice/docker-" ID_A ".scope/app", dir,
					sizeof(dir)), 0);
	assert_string_equal(dir, "/sys/fs/cgroup x/app");
	assert_int_equal(cgroup__dir_of(&m, "/system.slice/docker-" ID_A ".scope", dir,
					sizeof(dir)), 0);
	assert_string_equal(dir, "/sys/fs/cgroup x");
	/* a sibling that shares the root as a string prefix is not under it */
	assert_int_equal(cgroup__dir_of(&m, "/system.slice/docker-" ID_A ".scopeX", dir,
					sizeof(dir)), -ENOENT);
	assert_int_equal(cgroup__dir_of(&m, "/user.slice", dir, sizeof(dir)), -ENOENT);
}

static void test_mountinfo_other_and_bad(void **state)
{
	struct lw_cg_mount m;

	assert_int_equal(cgroup__parse_mountinfo_line(
		"31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755", &m), -ENOENT);
	/* cgroup2fs-like names are not cgroup */
	assert_int_equal(cgroup__parse_mountinfo_line(
		"31 23 0:28 / /x rw - cgroup2x none rw", &m), -ENOENT);
	assert_int_equal(cgroup__parse_mountinfo_line("", &m), -EINVAL);
	assert_int_equal(cgroup__parse_mountinfo_line("41 31 0:38 / /x rw cgroup2 rw", &m), -EINVAL);
	assert_int_equal(cgroup__parse_mountinfo_line("41 31 0:38 / - cgroup2 cgroup2 rw", &m),
			 -EINVAL);
}

static void test_dir_of_root_mount(void **state)
{
	struct lw_cg_mount m = { .v2 = true, .point = "/sys/fs/cgroup/unified" };
	char dir[PATH_MAX];

	assert_int_equal(cgroup__dir_of(&m, "/", dir, sizeof(dir)), 0);
	assert_string_equal(dir, "/sys/fs/cgroup/unified");
	assert_int_equal(cgroup__dir_of(&m, "/a.slice/b.scope", dir, sizeof(dir)), 0);
	assert_string_equal(dir, "/sys/fs/cgroup/unified/a.slice/b.scope");
	/* a cgroup outside our cgroup namespace */
	assert_int_equal(cgroup__dir_of(&m, "/../../system.slice", dir, sizeof(dir)), -ENOENT);
	assert_int_equal(cgroup__dir_of(&m, "/a", dir, 10), -ENAMETOOLONG);
}

static void test_proc_cgroup_lines(void **state)
{
	char v2[] = "0::/system.slice/docker-" ID_A ".scope\n";
	char v1[] = "4:memory:/process_api/601e837771721321adad3a86bdb055d7";
	char two[] = "2:cpu,cpuacct:/docker/" ID_A;
	char named[] = "9:name=systemd:/";
	struct lw_cg_line l;

	assert_int_equal(cgroup__parse_line(v2, &l), 0);
	assert_int_equal(l.hierarchy, 0);
	assert_string_equal(l.controllers, "");
	assert_string_equal(l.path, "/system.slice/docker-" ID_A ".scope");
	assert_int_equal(cgroup__parse_line(v1, &l), 0);
	assert_int_equal(l.hierarchy, 4);
	assert_string_equal(l.controllers, "memory");
	assert_string_equal(l.path, "/process_api/601e837771721321adad3a86bdb055d7");
	assert_int_equal(cgroup__parse_line(two, &l), 0);
	assert_int_equal(l.hierarchy, 2);
	assert_string_equal(l.controllers, "cpu,cpuacct");
	assert_int_equal(cgroup__parse_line(named, &l), 0);
	assert_string_equal(l.controllers, "name=systemd");
	assert_string_equal(l.path, "/");
}

static void test_proc_cgroup_bad_lines(void **state)
{
	const char *bad[] = {
		"", "0:", "0::", "x::/a", ":memory:/a", "0:memory:/a", "3::/a", "1:cpu:relative",
		"99999999999:cpu:/a",
	};
	struct lw_cg_line l;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char line[64];

		snprintf(line, sizeof(line), "%s", bad[i]);
		if (cgroup__parse_line(line, &l) != -EINVAL)
			fail_msg("accepted /proc/PID/cgroup line '%s'", bad[i]);
	}
}

static void test_container_arg(void **state)
{
	char norm[LW_CONTAINER_ID_LEN + 1];

	assert_int_equal(cgroup__container_arg("3F2A9c1b7d4e", norm), 0);
	assert_string_equal(norm, "3f2a9c1b7d4e");
	assert_int_equal(cgroup__container_arg(ID_A, norm), 0);
	assert_string_equal(norm, ID_A);
	assert_int_equal(cgroup__container_arg("3f2a", norm), 0);
	assert_int_equal(cgroup__container_arg("3f2", norm), -EINVAL);
	assert_int_equal(cgroup__container_arg("", norm), -EINVAL);
	assert_int_equal(cgroup__container_arg("3f2g", norm), -EINVAL);
	assert_int_equal(cgroup__container_arg("docker-3f2a", norm), -EINVAL);
	assert_int_equal(cgroup__container_arg(ID_A "0", norm), -EINVAL);
}

/* path, prefix, expected container cgroup (NULL: no match). */
static const struct {
	const char *path, *prefix, *cgroup;
} forms[] = {
	/* Docker, systemd driver */
	{ "/system.slice/docker-" ID_A ".scope", "3f2a9c", "/system.slice/docker-" ID_A ".scope" },
	/* Docker, cgroupfs driver (v1 lines, or v2 without systemd) */
	{ "/docker/" ID_A, "3f2a9c", "/docker/" ID_A },
	/* a process in a sub-cgroup of the container (its own, or Docker-in-Docker) */
	{ "/docker/" ID_A "/init.scope", "3f2a", "/docker/" ID_A },
	/* Kubernetes, systemd driver, containerd and CRI-O */
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-" POD_SYSTEMD ".slice/"
	  "cri-containerd-" ID_A ".scope", ID_A,
	  "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-" POD_SYSTEMD ".slice/"
	  "cri-containerd-" ID_A ".scope" },
	{ "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-" POD_SYSTEMD ".slice/"
	  "crio-" ID_A ".scope", "3f2a9c1b7d4e5f60",
	  "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-" POD_SYSTEMD ".slice/"
	  "crio-" ID_A ".scope" },
	/* Kubernetes, cgroupfs driver */
	{ "/kubepods/burstable/" POD "/" ID_A, "3f2a9c", "/kubepods/burstable/" POD "/" ID_A },
	/* containerd's own namespaces, cgroupfs */
	{ "/k8s.io/" ID_A, "3f2a", "/k8s.io/" ID_A },
	/* rootless Podman: the container's processes sit in .../container */
	{ "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID_A ".scope/container",
	  "3f2a9c", "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID_A ".scope" },
	/* Podman's and CRI-O's monitors are not the container */
	{ "/machine.slice/libpod-conmon-" ID_A ".scope", "3f2a", NULL },
	{ "/kubepods.slice/crio-conmon-" ID_A ".scope", "3f2a", NULL },
	/* another id, a short or long or non-hex "id", a pod uid, a 32-hex id */
	{ "/system.slice/docker-" ID_B ".scope", "3f2a9c1b7d4e5", NULL },
	{ "/docker/3f2a9c1b7d4e", "3f2a", NULL },
	{ "/docker/" ID_A "0", "3f2a", NULL },
	{ "/docker/" "3f2a9c1b7d4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789abcz", "3f2a", NULL },
	{ "/kubepods/burstable/" POD, "8d2f", NULL },
	{ "/process_api/601e837771721321adad3a86bdb055d7", "601e", NULL },
	/* a unit that is not a runtime's, and the runtime's own service */
	{ "/system.slice/session-" ID_A ".scope", "3f2a", NULL },
	{ "/system.slice/docker.service", "3f2a", NULL },
	{ "/", "3f2a", NULL },
	/* the first component that embeds the id wins */
	{ "/docker/" ID_A "/docker/" ID_A, "3f2a", "/docker/" ID_A },
};

static void test_container_forms(void **state)
{
	for (size_t i = 0; i < sizeof(forms) / sizeof(*forms); i++) {
		char id[LW_CONTAINER_ID_LEN + 1] = "";
		size_t end = cgroup__match_container(forms[i].path, forms[i].prefix, id);

		if (!forms[i].cgroup) {
			if (end)
				fail_msg("%s matched %s (as %.*s)", forms[i].prefix, forms[i].path,
					 (int)end, forms[i].path);
			continue;
		}
		if (!end)
			fail_msg("%s did not match %s", forms[i].prefix, forms[i].path);
		if (end != strlen(forms[i].cgroup) || strncmp(forms[i].path, forms[i].cgroup, end))
			fail_msg("%s in %s: container cgroup %.*s, expected %s", forms[i].prefix,
				 forms[i].path, (int)end, forms[i].path, forms[i].cgroup);
		assert_string_equal(id, ID_A);
	}
}

/* Both ids share a 12-digit prefix: each matches it, only one the longer. */
static void test_container_prefix_lengths(void **state)
{
	char id[LW_CONTAINER_ID_LEN + 1];

	assert_true(cgroup__match_container("/docker/" ID_B, "3f2a9c1b7d4e", id));
	assert_string_equal(id, ID_B);
	assert_true(cgroup__match_container("/docker/" ID_A, "3f2a9c1b7d4e", id));
	assert_false(cgroup__match_container("/docker/" ID_B, "3f2a9c1b7d4e5", id));
	assert_true(cgroup__match_container("/docker/" ID_B, ID_B, id));
	assert_false(cgroup__match_container("/docker/" ID_A, ID_B, id));
}

static void test_ns_pid_in_new_namespace(void **state)
{
	int go[2], back[2];
	pid_t child, inner;
	char c = 0;

	/* a child in a new PID namespace is PID 1 there (needs CAP_SYS_ADMIN);
	 * once it exits this process cannot fork again: the last test */
	if (unshare(CLONE_NEWPID)) {
		skip();
		return;
	}
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(back), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		char me = getpid() == 1 ? '1' : 'x';

		if (write(back[1], &me, 1) != 1 || read(go[0], &me, 1) < 0)
			_exit(1);
		_exit(0);
	}
	assert_int_equal(read(back[0], &c, 1), 1);
	assert_int_equal(c, '1');
	inner = proc__ns_pid(child);
	assert_int_equal(write(go[1], "x", 1), 1);
	waitpid(child, NULL, 0);
	assert_int_equal(inner, 1);
	assert_int_equal(proc__ppid(child) < 0 || proc__ppid(child) == getpid(), 1);
	close(go[0]), close(go[1]), close(back[0]), close(back[1]);
}

static void test_ns_pid_plain(void **state)
{
	/* a PID of no process stands for itself */
	assert_int_equal(proc__ns_pid(-5), -5);
	assert_int_equal(proc__ppid(getpid()), getppid());
	assert_true(proc__ppid(-1) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mountinfo_v2_unified),
		cmocka_unit_test(test_mountinfo_v2_systemd),
		cmocka_unit_test(test_mountinfo_v1_controllers),
		cmocka_unit_test(test_mountinfo_root_and_escapes),
		cmocka_unit_test(test_mountinfo_other_and_bad),
		cmocka_unit_test(test_dir_of_root_mount),
		cmocka_unit_test(test_proc_cgroup_lines),
		cmocka_unit_test(test_proc_cgroup_bad_lines),
		cmocka_unit_test(test_container_arg),
		cmocka_unit_test(test_container_forms),
		cmocka_unit_test(test_container_prefix_lengths),
		cmocka_unit_test(test_ns_pid_plain),
		cmocka_unit_test(test_ns_pid_in_new_namespace),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
