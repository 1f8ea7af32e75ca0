// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* An application embedding CPython through libpython3.X.so: runs its
 * arguments as the python command line would ("embed SCRIPT ARGS..."). */
#include <Python.h>

int main(int argc, char **argv)
{
	PyConfig config;
	PyStatus status;

	PyConfig_InitPythonConfig(&config);
	status = PyConfig_SetBytesArgv(&config, argc, argv);
	if (!PyStatus_Exception(status))
		status = Py_InitializeFromConfig(&config);
	PyConfig_Clear(&config);
	if (PyStatus_Exception(status))
		Py_ExitStatusException(status);
	return Py_RunMain();
}
