/* The step budget per callback and the memory ceiling per VM (vm_limits.c). */
#ifndef MESHWASM_VM_LIMITS_H
#define MESHWASM_VM_LIMITS_H

#include <Python.h>
#include <stdint.h>

/* Read the limits from the filter's Registration (proxy_wasm._registry); -1 with an error. */
int limits_load(PyObject *registration);
/* A callback of context `context_id` begins (`ends_stream`: proxy_on_delete of a stream):
 * the budget starts again.  Traps instead when the VM asked to be replaced earlier. */
void limits_begin(const char *callback, uint32_t context_id, int ends_stream);
/* The callback ended.  Returns 1 when the VM just passed its memory ceiling during a stream
 * callback (`is_stream`): the caller fails that request by the policy.  Traps when it did
 * during a root context callback. */
int limits_end(uint32_t context_id, int is_stream);

#endif
