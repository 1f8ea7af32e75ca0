// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* An application embedding CPython through libpython3.X.so: runs its
 * arguments as the python command line would ("embed SCRIPT ARGS...").
 * With LW_EMBED_KEYS=N it first makes N pthread keys, as an application
 * whose libraries take many would: the interpreter's own key then lies in
 * glibc's second-level array (32 and above). */
#include <Python.h>
#include <pthread.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	const char *keys = getenv("LW_EMBED_KEYS");
	PyConfig config;
	PyStatus status;

	for (int i = 0, n = keys ? atoi(keys) : 0; i < n; i++) {
		pthread_key_t key;

		if (pthread_key_create(&key, NULL))
			return 1;
	}
	PyConfig_InitPythonConfig(&config);
	status = PyConfig_SetBytesArgv(&config, argc, argv);
	if (!PyStatus_Exception(status))
		status = Py_InitializeFromConfig(&config);
	PyConfig_Clear(&config);
	if (PyStatus_Exception(status))
		Py_ExitStatusException(status);
	return Py_RunMain();
}
