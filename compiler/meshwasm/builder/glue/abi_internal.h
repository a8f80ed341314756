/* Helpers shared by the files of the _proxy_wasm_abi module (see abi_module.c). */
#ifndef MESHWASM_ABI_INTERNAL_H
#define MESHWASM_ABI_INTERNAL_H

#include <Python.h>

#include "proxy_abi.h"

/* A borrowed view of a str (as UTF-8, surrogateescape) or bytes-like argument. */
typedef struct {
  const char *data;
  Py_ssize_t size;
  PyObject *owner; /* keeps `data` alive; may be NULL */
} abi_view_t;

#define CHECK_NARGS(name, expected)                                                        \
  if (nargs != (expected)) {                                                               \
    PyErr_Format(PyExc_TypeError, name "() takes %d arguments (%zd given)", (expected),     \
                 nargs);                                                                   \
    return NULL;                                                                           \
  }

extern PyObject *abi_host_call_error; /* _proxy_wasm_abi.HostCallError */

/* Raise HostCallError(call, status); returns NULL for `return abi_raise_status(...)`. */
PyObject *abi_raise_status(const char *call, proxy_status_t status);
PyObject *abi_text(const char *data, size_t size);
int abi_view(PyObject *object, abi_view_t *view);
void abi_view_release(abi_view_t *view);
int abi_arg_u32(PyObject *object, uint32_t *out);
/* The single argument of a METH_FASTCALL|METH_KEYWORDS function f(name) (borrowed), given
 * by position or by name; NULL with TypeError otherwise. */
PyObject *abi_one_argument(const char *function, const char *name, PyObject *const *args,
                           Py_ssize_t nargs, PyObject *kwnames);
char *abi_serialize_pairs(PyObject *pairs, size_t *out_size);
PyObject *abi_deserialize_pairs(const char *data, size_t size);

/* abi_module.c: the header-map calls HeaderMapBase reuses. */
PyObject *abi_get_header(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *abi_get_headers(PyObject *self, PyObject *arg);
PyObject *abi_add_header(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *abi_replace_header(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *abi_remove_header(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

/* abi_headermap.c: the SDK's C base types, HeaderMapBase and StreamBase (proxy_wasm's
 * HeaderMap and HttpContext subclass them inside a compiled module). */
int abi_add_header_map_type(PyObject *module);
PyObject *abi_get_header_many(uint32_t map, PyObject *const *names, Py_ssize_t count);

/* A stream context's C part: exports.c creates and dispatches to contexts through it. */
typedef struct {
  PyObject_HEAD
  uint32_t context_id;
  PyObject *root;
  /* Bits of stream callbacks this stream no longer needs, in the order of
   * proxy_wasm._dispatch.SKIPPABLE (see HttpContext.skip_callbacks). */
  uint32_t skipped;
} abi_stream_t;

extern PyTypeObject abi_stream_type;

/* StreamTable (abi_headermap.c): context id -> context.  get: borrowed or NULL (no
 * exception); set: 0 or -1; pop: the context (a new reference) or NULL (no exception). */
extern PyTypeObject abi_table_type;
PyObject *abi_table_get(PyObject *table, uint32_t id);
int abi_table_set(PyObject *table, uint32_t id, PyObject *context);
PyObject *abi_table_pop(PyObject *table, uint32_t id);
/* The SKIPPABLE callback names, in bit order, and a mask of all of them. */
extern const char *const abi_skippable_names[];
#define ABI_SKIPPABLE_COUNT 8
#define ABI_SKIP_ALL ((1u << ABI_SKIPPABLE_COUNT) - 1)

/* abi_shared.c: shared data, queues, http_call, metrics. */
PyObject *abi_get_shared_data(PyObject *self, PyObject *arg);
PyObject *abi_set_shared_data(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *abi_shared_data_get(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames);
PyObject *abi_try_set_shared_data(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames);
PyObject *abi_register_queue(PyObject *self, PyObject *arg);
PyObject *abi_resolve_queue(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *abi_enqueue(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *abi_dequeue(PyObject *self, PyObject *arg);
PyObject *abi_http_call(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *abi_call_foreign_function(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *abi_define_metric(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *abi_increment_metric(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *abi_record_metric(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *abi_get_metric(PyObject *self, PyObject *arg);
int abi_add_metric_type(PyObject *module); /* MetricBase, proxy_wasm.metrics' base class */

/* abi_grpc.c: gRPC calls and streams, get_status. */
PyObject *abi_grpc_call(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *abi_grpc_stream(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *abi_grpc_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *abi_grpc_cancel(PyObject *self, PyObject *arg);
PyObject *abi_grpc_close(PyObject *self, PyObject *arg);
PyObject *abi_get_status(PyObject *self, PyObject *unused);

#endif
