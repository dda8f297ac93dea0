/* The tikv-mock-server control commands (--control): one line of text in,
 * one line out, driving the faults of include/tikv/mock.h from another
 * process (a test in any language, a shell). */
#ifndef TIKV_MOCK_CONTROL_H
#define TIKV_MOCK_CONTROL_H

#include <stddef.h>

#include "tikv/mock.h"

/* Runs one command line ("pd-kill leader", "store-down 2", "help", ...) and
 * writes its answer to out: "ok", "ok <value>" or "error: <why>". Returns
 * 0 when it succeeded, -1 otherwise. */
int mock_control(tikv_mock_cluster_t *m, const char *line, char *out, size_t outlen);

#endif
