/* _proxy_wasm_abi: shared data, shared queues, http_call and metrics host calls. */
#include <stdlib.h>
#include <string.h>

#include "abi_internal.h" /* Python.h first: structmember.h needs it */

#include <structmember.h>

/* ---- shared data and queues ---------------------------------------------------------- */

PyObject *abi_get_shared_data(PyObject *self, PyObject *arg) {
  abi_view_t key;
  if (abi_view(arg, &key) < 0) return NULL;
  char *value = NULL;
  size_t size = 0;
  uint32_t cas = 0;
  proxy_status_t status = proxy_get_shared_data(key.data, (size_t)key.size, &value, &size, &cas);
  abi_view_release(&key);
  if (status == PROXY_NOT_FOUND) { free(value); return Py_BuildValue("(OI)", Py_None, cas); }
  if (status != PROXY_OK) { free(value); return abi_raise_status("get_shared_data", status); }
  PyObject *data = PyBytes_FromStringAndSize(value ? value : "", (Py_ssize_t)size);
  free(value);
  if (data == NULL) return NULL;
  PyObject *result = Py_BuildValue("(NI)", data, cas);
  return result;
}

/* proxy_wasm.shared_data.get(key) in C (the key by position or by name). */
PyObject *abi_shared_data_get(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames) {
  PyObject *key = abi_one_argument("get", "key", args, nargs, kwnames);
  return key ? abi_get_shared_data(self, key) : NULL;
}

PyObject *abi_set_shared_data(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("set_shared_data", 3);
  abi_view_t key, value;
  uint32_t cas;
  if (abi_arg_u32(args[2], &cas) < 0 || abi_view(args[0], &key) < 0) return NULL;
  if (abi_view(args[1], &value) < 0) { abi_view_release(&key); return NULL; }
  proxy_status_t status = proxy_set_shared_data(key.data, (size_t)key.size, value.data,
                                                (size_t)value.size, cas);
  abi_view_release(&key);
  abi_view_release(&value);
  if (status != PROXY_OK) return abi_raise_status("set_shared_data", status);
  Py_RETURN_NONE;
}

/* The arguments of set(key, value, cas=0), by position or name, into `slots` (cas may stay
 * NULL); -1 with TypeError when they do not fit. */
static int set_arguments(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                         PyObject *slots[3]) {
  static const char *const names[3] = {"key", "value", "cas"};
  Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  slots[0] = slots[1] = slots[2] = NULL;
  if (nargs > 3) goto bad;
  for (Py_ssize_t i = 0; i < nargs; i++) slots[i] = args[i];
  for (Py_ssize_t i = 0; i < nkw; i++) {
    int at = -1;
    for (int k = 0; k < 3 && at < 0; k++)
      if (PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, i), names[k]) == 0) at = k;
    if (at < 0 || slots[at] != NULL) goto bad;
    slots[at] = args[nargs + i];
  }
  if (slots[0] != NULL && slots[1] != NULL) return 0;
bad:
  PyErr_SetString(PyExc_TypeError, "set() takes (key, value, cas=0)");
  return -1;
}

/* try_set_shared_data(key, value, cas=0) -> bool: proxy_wasm.shared_data.set in C (False on
 * a compare-and-swap conflict, HostCallError on any other failure). */
PyObject *abi_try_set_shared_data(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames) {
  PyObject *slots[3];
  abi_view_t key, value;
  uint32_t cas = 0;
  if (set_arguments(args, PyVectorcall_NARGS(nargs), kwnames, slots) < 0) return NULL;
  if ((slots[2] != NULL && abi_arg_u32(slots[2], &cas) < 0) || abi_view(slots[0], &key) < 0)
    return NULL;
  if (abi_view(slots[1], &value) < 0) { abi_view_release(&key); return NULL; }
  proxy_status_t status = proxy_set_shared_data(key.data, (size_t)key.size, value.data,
                                                (size_t)value.size, cas);
  abi_view_release(&key);
  abi_view_release(&value);
  if (status == PROXY_CAS_MISMATCH) Py_RETURN_FALSE;
  if (status != PROXY_OK) return abi_raise_status("set_shared_data", status);
  Py_RETURN_TRUE;
}

PyObject *abi_register_queue(PyObject *self, PyObject *arg) {
  abi_view_t name;
  if (abi_view(arg, &name) < 0) return NULL;
  uint32_t token = 0;
  proxy_status_t status = proxy_register_shared_queue(name.data, (size_t)name.size, &token);
  abi_view_release(&name);
  if (status != PROXY_OK) return abi_raise_status("register_queue", status);
  return PyLong_FromUnsignedLong(token);
}

PyObject *abi_resolve_queue(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("resolve_queue", 2);
  abi_view_t vm_id, name;
  if (abi_view(args[0], &vm_id) < 0) return NULL;
  if (abi_view(args[1], &name) < 0) { abi_view_release(&vm_id); return NULL; }
  uint32_t token = 0;
  proxy_status_t status = proxy_resolve_shared_queue(vm_id.data, (size_t)vm_id.size, name.data,
                                                     (size_t)name.size, &token);
  abi_view_release(&vm_id);
  abi_view_release(&name);
  if (status == PROXY_NOT_FOUND) Py_RETURN_NONE;
  if (status != PROXY_OK) return abi_raise_status("resolve_queue", status);
  return PyLong_FromUnsignedLong(token);
}

PyObject *abi_enqueue(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("enqueue", 2);
  uint32_t token;
  abi_view_t data;
  if (abi_arg_u32(args[0], &token) < 0 || abi_view(args[1], &data) < 0) return NULL;
  proxy_status_t status = proxy_enqueue_shared_queue(token, data.data, (size_t)data.size);
  abi_view_release(&data);
  if (status != PROXY_OK) return abi_raise_status("enqueue", status);
  Py_RETURN_NONE;
}

PyObject *abi_dequeue(PyObject *self, PyObject *arg) {
  uint32_t token;
  if (abi_arg_u32(arg, &token) < 0) return NULL;
  char *data = NULL;
  size_t size = 0;
  proxy_status_t status = proxy_dequeue_shared_queue(token, &data, &size);
  if (status == PROXY_EMPTY) { free(data); Py_RETURN_NONE; }
  if (status != PROXY_OK) { free(data); return abi_raise_status("dequeue", status); }
  PyObject *result = PyBytes_FromStringAndSize(data ? data : "", (Py_ssize_t)size);
  free(data);
  return result;
}

/* ---- http_call ------------------------------------------------------------------------- */

PyObject *abi_http_call(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("http_call", 5);
  abi_view_t upstream, body;
  uint32_t timeout_ms;
  if (abi_arg_u32(args[4], &timeout_ms) < 0 || abi_view(args[0], &upstream) < 0) return NULL;
  if (abi_view(args[2], &body) < 0) { abi_view_release(&upstream); return NULL; }
  size_t headers_size = 0, trailers_size = 0;
  char *headers = abi_serialize_pairs(args[1], &headers_size);
  char *trailers = headers ? abi_serialize_pairs(args[3], &trailers_size) : NULL;
  proxy_status_t status = PROXY_OK;
  uint32_t token = 0;
  if (trailers != NULL)
    status = proxy_http_call(upstream.data, (size_t)upstream.size, headers, headers_size,
                             body.data, (size_t)body.size, trailers, trailers_size, timeout_ms,
                             &token);
  free(headers);
  abi_view_release(&upstream);
  abi_view_release(&body);
  if (trailers == NULL) return NULL;
  free(trailers);
  if (status != PROXY_OK) return abi_raise_status("http_call", status);
  return PyLong_FromUnsignedLong(token);
}

/* ---- foreign functions ----------------------------------------------------------------- */

/* call_foreign_function(name, argument) -> bytes, or None when the proxy has no such
 * function (Envoy answers NotFound for a name it does not register). */
PyObject *abi_call_foreign_function(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("call_foreign_function", 2);
  abi_view_t name, argument;
  if (abi_view(args[0], &name) < 0) return NULL;
  if (abi_view(args[1], &argument) < 0) { abi_view_release(&name); return NULL; }
  char *result = NULL;
  size_t size = 0;
  proxy_status_t status = proxy_call_foreign_function(
      name.data, (size_t)name.size, argument.data, (size_t)argument.size, &result, &size);
  abi_view_release(&name);
  abi_view_release(&argument);
  if (status == PROXY_NOT_FOUND) { free(result); Py_RETURN_NONE; }
  if (status != PROXY_OK) {
    free(result);
    return abi_raise_status("call_foreign_function", status);
  }
  PyObject *answer = PyBytes_FromStringAndSize(result ? result : "", (Py_ssize_t)size);
  free(result);
  return answer;
}

/* ---- metrics --------------------------------------------------------------------------- */

PyObject *abi_define_metric(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("define_metric", 2);
  uint32_t type;
  abi_view_t name;
  if (abi_arg_u32(args[0], &type) < 0 || abi_view(args[1], &name) < 0) return NULL;
  uint32_t id = 0;
  proxy_status_t status = proxy_define_metric(type, name.data, (size_t)name.size, &id);
  abi_view_release(&name);
  if (status != PROXY_OK) return abi_raise_status("define_metric", status);
  return PyLong_FromUnsignedLong(id);
}

PyObject *abi_increment_metric(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("increment_metric", 2);
  uint32_t id;
  if (abi_arg_u32(args[0], &id) < 0) return NULL;
  long long offset = PyLong_AsLongLong(args[1]);
  if (offset == -1 && PyErr_Occurred()) return NULL;
  proxy_status_t status = proxy_increment_metric(id, (int64_t)offset);
  if (status != PROXY_OK) return abi_raise_status("increment_metric", status);
  Py_RETURN_NONE;
}

PyObject *abi_record_metric(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("record_metric", 2);
  uint32_t id;
  if (abi_arg_u32(args[0], &id) < 0) return NULL;
  unsigned long long value = PyLong_AsUnsignedLongLong(args[1]);
  if (value == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
  proxy_status_t status = proxy_record_metric(id, (uint64_t)value);
  if (status != PROXY_OK) return abi_raise_status("record_metric", status);
  Py_RETURN_NONE;
}

PyObject *abi_get_metric(PyObject *self, PyObject *arg) {
  uint32_t id;
  if (abi_arg_u32(arg, &id) < 0) return NULL;
  uint64_t value = 0;
  proxy_status_t status = proxy_get_metric(id, &value);
  if (status != PROXY_OK) return abi_raise_status("get_metric", status);
  return PyLong_FromUnsignedLongLong(value);
}

/* ---- MetricBase: proxy_wasm.metrics' classes, their per-request methods in C ----------- */

enum { METRIC_COUNTER = 0 };

typedef struct {
  PyObject_HEAD
  PyObject *name;
  uint32_t id;
  int kind;
} metric_t;

/* MetricBase(name): define the metric of the subclass's KIND (at configure time). */
static int metric_init(metric_t *self, PyObject *args, PyObject *kwargs) {
  static char *names[] = {"name", NULL};
  PyObject *name;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "U", names, &name)) return -1;
  PyObject *kind = PyObject_GetAttrString((PyObject *)Py_TYPE(self), "KIND");
  if (kind == NULL) return -1;
  PyObject *call[2] = {kind, name};
  PyObject *id = abi_define_metric(NULL, call, 2);
  self->kind = (int)PyLong_AsLong(kind);
  Py_DECREF(kind);
  if (id == NULL) return -1;
  self->id = (uint32_t)PyLong_AsUnsignedLong(id);
  Py_DECREF(id);
  if (PyErr_Occurred()) return -1;
  Py_XSETREF(self->name, Py_NewRef(name));
  return 0;
}

static void metric_dealloc(metric_t *self) {
  Py_CLEAR(self->name);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

/* _increment(delta=1); a counter refuses to go down (as Counter.increment documents). */
static PyObject *metric_increment(metric_t *self, PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames) {
  PyObject *delta_object = NULL;
  if (PyVectorcall_NARGS(nargs) != 0 || kwnames != NULL) {
    delta_object = abi_one_argument("increment", "delta", args, nargs, kwnames);
    if (delta_object == NULL) return NULL;
  }
  long long delta = delta_object ? PyLong_AsLongLong(delta_object) : 1;
  if (delta == -1 && PyErr_Occurred()) return NULL;
  if (delta < 0 && self->kind == METRIC_COUNTER) {
    PyErr_SetString(PyExc_ValueError, "a counter cannot go down; use a Gauge");
    return NULL;
  }
  proxy_status_t status = proxy_increment_metric(self->id, (int64_t)delta);
  if (status != PROXY_OK) return abi_raise_status("increment_metric", status);
  Py_RETURN_NONE;
}

static PyObject *metric_record(metric_t *self, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames) {
  PyObject *arg = abi_one_argument("record", "value", args, nargs, kwnames);
  if (arg == NULL) return NULL;
  unsigned long long value = PyLong_AsUnsignedLongLong(arg);
  if (value == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
  proxy_status_t status = proxy_record_metric(self->id, (uint64_t)value);
  if (status != PROXY_OK) return abi_raise_status("record_metric", status);
  Py_RETURN_NONE;
}

static PyMethodDef metric_methods[] = {
    {"_increment", (PyCFunction)(void (*)(void))metric_increment,
     METH_FASTCALL | METH_KEYWORDS, "_increment(delta=1)"},
    {"_record", (PyCFunction)(void (*)(void))metric_record, METH_FASTCALL | METH_KEYWORDS,
     "_record(value)"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef metric_members[] = {
    {"name", T_OBJECT_EX, offsetof(metric_t, name), READONLY, "the metric's name"},
    {"id", T_UINT, offsetof(metric_t, id), READONLY, "the host's id of the metric"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject metric_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_proxy_wasm_abi.MetricBase",
    .tp_basicsize = sizeof(metric_t),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "The host-call methods of proxy_wasm.metrics' classes, in C.",
    .tp_methods = metric_methods,
    .tp_members = metric_members,
    .tp_init = (initproc)metric_init,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)metric_dealloc,
};

int abi_add_metric_type(PyObject *module) {
  if (PyType_Ready(&metric_type) < 0) return -1;
  return PyModule_AddObjectRef(module, "MetricBase", (PyObject *)&metric_type);
}
