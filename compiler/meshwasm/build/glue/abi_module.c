/* _proxy_wasm_abi: the raw proxy-wasm host calls as a builtin Python module.
 *
 * This is the only place where Python meets the ABI inside the compiled module.  It turns
 * Python values into the ABI's pointers/sizes and back, and turns status codes into
 * None (NotFound/Empty) or a HostCallError carrying the status.  Everything typed and
 * documented for authors lives in the SDK (sdk/proxy_wasm), which calls these functions.
 */
#include <Python.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_abi.h"

static PyObject *host_call_error; /* _proxy_wasm_abi.HostCallError */

static PyObject *raise_status(const char *call, proxy_status_t status) {
  PyObject *args = Py_BuildValue("(sI)", call, (unsigned int)status);
  if (args != NULL) {
    PyErr_SetObject(host_call_error, args);
    Py_DECREF(args);
  }
  return NULL;
}

/* Text <-> bytes: header names and values are byte strings in Envoy; authors see str.
 * surrogateescape keeps any byte sequence round-trippable. */
static PyObject *text_from(const char *data, size_t size) {
  return PyUnicode_DecodeUTF8(data, (Py_ssize_t)size, "surrogateescape");
}

typedef struct {
  const char *data;
  Py_ssize_t size;
  PyObject *owner; /* keeps `data` alive; may be NULL */
} view_t;

static int view_of(PyObject *object, view_t *view) {
  view->owner = NULL;
  if (PyUnicode_Check(object)) {
    view->data = PyUnicode_AsUTF8AndSize(object, &view->size);
    if (view->data != NULL) return 0;
    PyErr_Clear();
    view->owner = PyUnicode_AsEncodedString(object, "utf-8", "surrogateescape");
    if (view->owner == NULL) return -1;
    object = view->owner;
  }
  if (PyBytes_Check(object)) {
    view->data = PyBytes_AS_STRING(object);
    view->size = PyBytes_GET_SIZE(object);
    return 0;
  }
  if (PyByteArray_Check(object)) {
    view->data = PyByteArray_AS_STRING(object);
    view->size = PyByteArray_GET_SIZE(object);
    return 0;
  }
  PyErr_Format(PyExc_TypeError, "expected str or bytes, got %.100s", Py_TYPE(object)->tp_name);
  return -1;
}

static void view_release(view_t *view) { Py_CLEAR(view->owner); }

#define CHECK_NARGS(name, expected)                                                        \
  if (nargs != (expected)) {                                                               \
    PyErr_Format(PyExc_TypeError, name "() takes %d arguments (%zd given)", (expected),     \
                 nargs);                                                                   \
    return NULL;                                                                           \
  }

static int arg_u32(PyObject *object, uint32_t *out) {
  unsigned long value = PyLong_AsUnsignedLong(object);
  if (value == (unsigned long)-1 && PyErr_Occurred()) return -1;
  *out = (uint32_t)value;
  return 0;
}

/* Serialize [(key, value), ...] into the ABI's header-pairs layout:
 * u32 count, count x (u32 key_len, u32 value_len), then each key\0value\0. */
static char *serialize_pairs(PyObject *pairs, size_t *out_size) {
  PyObject *seq = PySequence_Fast(pairs, "headers must be a sequence of (name, value) pairs");
  if (seq == NULL) return NULL;
  Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
  view_t *views = PyMem_Calloc(count > 0 ? (size_t)count * 2 : 1, sizeof(view_t));
  char *buffer = NULL;
  Py_ssize_t done = 0;
  size_t total = 4 + 8 * (size_t)count;
  if (views == NULL) { PyErr_NoMemory(); goto out; }
  for (; done < count; done++) {
    PyObject *pair = PySequence_Fast_GET_ITEM(seq, done);
    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
      PyErr_SetString(PyExc_TypeError, "each header must be a (name, value) tuple");
      goto out;
    }
    if (view_of(PyTuple_GET_ITEM(pair, 0), &views[2 * done]) < 0) goto out;
    if (view_of(PyTuple_GET_ITEM(pair, 1), &views[2 * done + 1]) < 0) {
      view_release(&views[2 * done]);
      goto out;
    }
    total += (size_t)views[2 * done].size + (size_t)views[2 * done + 1].size + 2;
  }
  buffer = malloc(total);
  if (buffer == NULL) { PyErr_NoMemory(); goto out; }
  uint32_t *lengths = (uint32_t *)buffer;
  lengths[0] = (uint32_t)count;
  char *cursor = buffer + 4 + 8 * (size_t)count;
  for (Py_ssize_t i = 0; i < 2 * count; i++) {
    lengths[1 + i] = (uint32_t)views[i].size;
    memcpy(cursor, views[i].data, (size_t)views[i].size);
    cursor += views[i].size;
    *cursor++ = '\0';
  }
  *out_size = total;
out:
  for (Py_ssize_t i = 0; i < 2 * done; i++) view_release(&views[i]);
  PyMem_Free(views);
  Py_DECREF(seq);
  return buffer;
}

static PyObject *deserialize_pairs(const char *data, size_t size) {
  if (size < 4) return PyList_New(0);
  uint32_t count;
  memcpy(&count, data, 4);
  if ((size_t)count > (size - 4) / 8) {
    PyErr_SetString(PyExc_ValueError, "malformed header pairs from host");
    return NULL;
  }
  PyObject *list = PyList_New(count);
  if (list == NULL) return NULL;
  const char *cursor = data + 4 + 8 * (size_t)count;
  const char *end = data + size;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t key_size, value_size;
    memcpy(&key_size, data + 4 + 8 * (size_t)i, 4);
    memcpy(&value_size, data + 8 + 8 * (size_t)i, 4);
    if ((size_t)(end - cursor) < (size_t)key_size + value_size + 2) {
      Py_DECREF(list);
      PyErr_SetString(PyExc_ValueError, "truncated header pairs from host");
      return NULL;
    }
    PyObject *key = text_from(cursor, key_size);
    cursor += key_size + 1;
    PyObject *value = text_from(cursor, value_size);
    cursor += value_size + 1;
    PyObject *pair = (key && value) ? PyTuple_Pack(2, key, value) : NULL;
    Py_XDECREF(key);
    Py_XDECREF(value);
    if (pair == NULL) { Py_DECREF(list); return NULL; }
    PyList_SET_ITEM(list, i, pair);
  }
  return list;
}

/* ---- logging and time ---------------------------------------------------------------- */

static PyObject *abi_log(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("log", 2);
  uint32_t level;
  view_t message;
  if (arg_u32(args[0], &level) < 0 || view_of(args[1], &message) < 0) return NULL;
  proxy_log(level, message.data, (size_t)message.size);
  view_release(&message);
  Py_RETURN_NONE;
}

static PyObject *abi_get_log_level(PyObject *self, PyObject *unused) {
  uint32_t level = 0;
  proxy_status_t status = proxy_get_log_level(&level);
  if (status != PROXY_OK) return raise_status("get_log_level", status);
  return PyLong_FromUnsignedLong(level);
}

static PyObject *abi_get_current_time_ns(PyObject *self, PyObject *unused) {
  uint64_t now = 0;
  proxy_status_t status = proxy_get_current_time_nanoseconds(&now);
  if (status != PROXY_OK) return raise_status("get_current_time_ns", status);
  return PyLong_FromUnsignedLongLong(now);
}

static PyObject *abi_set_tick_period(PyObject *self, PyObject *arg) {
  uint32_t period;
  if (arg_u32(arg, &period) < 0) return NULL;
  proxy_status_t status = proxy_set_tick_period_milliseconds(period);
  if (status != PROXY_OK) return raise_status("set_tick_period", status);
  Py_RETURN_NONE;
}

static PyObject *abi_set_effective_context(PyObject *self, PyObject *arg) {
  uint32_t id;
  if (arg_u32(arg, &id) < 0) return NULL;
  proxy_status_t status = proxy_set_effective_context(id);
  if (status != PROXY_OK) return raise_status("set_effective_context", status);
  Py_RETURN_NONE;
}

/* ---- header maps --------------------------------------------------------------------- */

static PyObject *abi_get_header(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("get_header", 2);
  uint32_t map;
  view_t key;
  if (arg_u32(args[0], &map) < 0 || view_of(args[1], &key) < 0) return NULL;
  char *value = NULL;
  size_t value_size = 0;
  proxy_status_t status =
      proxy_get_header_map_value(map, key.data, (size_t)key.size, &value, &value_size);
  view_release(&key);
  if (status == PROXY_NOT_FOUND) { free(value); Py_RETURN_NONE; }
  if (status != PROXY_OK) { free(value); return raise_status("get_header", status); }
  /* Envoy answers Ok with an empty value for a missing header; see proxy-wasm spec. */
  PyObject *result = text_from(value ? value : "", value_size);
  free(value);
  return result;
}

static PyObject *abi_get_headers(PyObject *self, PyObject *arg) {
  uint32_t map;
  if (arg_u32(arg, &map) < 0) return NULL;
  char *data = NULL;
  size_t size = 0;
  proxy_status_t status = proxy_get_header_map_pairs(map, &data, &size);
  if (status == PROXY_NOT_FOUND) { free(data); return PyList_New(0); }
  if (status != PROXY_OK) { free(data); return raise_status("get_headers", status); }
  PyObject *result = deserialize_pairs(data, size);
  free(data);
  return result;
}

static PyObject *abi_set_headers(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("set_headers", 2);
  uint32_t map;
  if (arg_u32(args[0], &map) < 0) return NULL;
  size_t size = 0;
  char *data = serialize_pairs(args[1], &size);
  if (data == NULL) return NULL;
  proxy_status_t status = proxy_set_header_map_pairs(map, data, size);
  free(data);
  if (status != PROXY_OK) return raise_status("set_headers", status);
  Py_RETURN_NONE;
}

typedef proxy_status_t (*header_write_fn)(uint32_t, const char *, size_t, const char *, size_t);

static PyObject *header_write(const char *name, header_write_fn write, PyObject *const *args,
                              Py_ssize_t nargs) {
  if (nargs != 3) {
    PyErr_Format(PyExc_TypeError, "%s() takes 3 arguments (%zd given)", name, nargs);
    return NULL;
  }
  uint32_t map;
  view_t key, value;
  if (arg_u32(args[0], &map) < 0 || view_of(args[1], &key) < 0) return NULL;
  if (view_of(args[2], &value) < 0) { view_release(&key); return NULL; }
  proxy_status_t status =
      write(map, key.data, (size_t)key.size, value.data, (size_t)value.size);
  view_release(&key);
  view_release(&value);
  if (status != PROXY_OK) return raise_status(name, status);
  Py_RETURN_NONE;
}

static PyObject *abi_add_header(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  return header_write("add_header", proxy_add_header_map_value, args, nargs);
}

static PyObject *abi_replace_header(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  return header_write("replace_header", proxy_replace_header_map_value, args, nargs);
}

static PyObject *abi_remove_header(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("remove_header", 2);
  uint32_t map;
  view_t key;
  if (arg_u32(args[0], &map) < 0 || view_of(args[1], &key) < 0) return NULL;
  proxy_status_t status = proxy_remove_header_map_value(map, key.data, (size_t)key.size);
  view_release(&key);
  if (status != PROXY_OK && status != PROXY_NOT_FOUND)
    return raise_status("remove_header", status);
  Py_RETURN_NONE;
}

/* ---- buffers ------------------------------------------------------------------------- */

static PyObject *abi_get_buffer(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("get_buffer", 3);
  uint32_t type, start, length;
  if (arg_u32(args[0], &type) < 0 || arg_u32(args[1], &start) < 0 ||
      arg_u32(args[2], &length) < 0)
    return NULL;
  char *data = NULL;
  size_t size = 0;
  proxy_status_t status = proxy_get_buffer_bytes(type, start, length, &data, &size);
  if (status == PROXY_NOT_FOUND || status == PROXY_EMPTY) { free(data); Py_RETURN_NONE; }
  if (status != PROXY_OK) { free(data); return raise_status("get_buffer", status); }
  PyObject *result = PyBytes_FromStringAndSize(data ? data : "", (Py_ssize_t)size);
  free(data);
  return result;
}

static PyObject *abi_set_buffer(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("set_buffer", 4);
  uint32_t type, start, length;
  view_t data;
  if (arg_u32(args[0], &type) < 0 || arg_u32(args[1], &start) < 0 ||
      arg_u32(args[2], &length) < 0 || view_of(args[3], &data) < 0)
    return NULL;
  proxy_status_t status = proxy_set_buffer_bytes(type, start, length, data.data,
                                                 (size_t)data.size);
  view_release(&data);
  if (status != PROXY_OK) return raise_status("set_buffer", status);
  Py_RETURN_NONE;
}

/* ---- stream control ------------------------------------------------------------------ */

static PyObject *abi_send_local_response(PyObject *self, PyObject *const *args,
                                         Py_ssize_t nargs) {
  CHECK_NARGS("send_local_response", 5);
  uint32_t status_code;
  long grpc_status;
  view_t details, body;
  if (arg_u32(args[0], &status_code) < 0) return NULL;
  grpc_status = PyLong_AsLong(args[4]);
  if (grpc_status == -1 && PyErr_Occurred()) return NULL;
  if (view_of(args[1], &details) < 0) return NULL;
  if (view_of(args[2], &body) < 0) { view_release(&details); return NULL; }
  size_t headers_size = 0;
  char *headers = serialize_pairs(args[3], &headers_size);
  proxy_status_t status = PROXY_OK;
  if (headers != NULL)
    status = proxy_send_local_response(status_code, details.data, (size_t)details.size,
                                       body.data, (size_t)body.size, headers, headers_size,
                                       (int32_t)grpc_status);
  free(headers);
  view_release(&details);
  view_release(&body);
  if (headers == NULL) return NULL;
  if (status != PROXY_OK) return raise_status("send_local_response", status);
  Py_RETURN_NONE;
}

static PyObject *abi_continue_stream(PyObject *self, PyObject *arg) {
  uint32_t stream;
  if (arg_u32(arg, &stream) < 0) return NULL;
  proxy_status_t status = proxy_continue_stream(stream);
  if (status != PROXY_OK) return raise_status("continue_stream", status);
  Py_RETURN_NONE;
}

static PyObject *abi_close_stream(PyObject *self, PyObject *arg) {
  uint32_t stream;
  if (arg_u32(arg, &stream) < 0) return NULL;
  proxy_status_t status = proxy_close_stream(stream);
  if (status != PROXY_OK) return raise_status("close_stream", status);
  Py_RETURN_NONE;
}

/* ---- properties ---------------------------------------------------------------------- */

static PyObject *abi_get_property(PyObject *self, PyObject *arg) {
  view_t path;
  if (view_of(arg, &path) < 0) return NULL;
  char *value = NULL;
  size_t size = 0;
  proxy_status_t status = proxy_get_property(path.data, (size_t)path.size, &value, &size);
  view_release(&path);
  if (status == PROXY_NOT_FOUND) { free(value); Py_RETURN_NONE; }
  if (status != PROXY_OK) { free(value); return raise_status("get_property", status); }
  PyObject *result = PyBytes_FromStringAndSize(value ? value : "", (Py_ssize_t)size);
  free(value);
  return result;
}

static PyObject *abi_set_property(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("set_property", 2);
  view_t path, value;
  if (view_of(args[0], &path) < 0) return NULL;
  if (view_of(args[1], &value) < 0) { view_release(&path); return NULL; }
  proxy_status_t status =
      proxy_set_property(path.data, (size_t)path.size, value.data, (size_t)value.size);
  view_release(&path);
  view_release(&value);
  if (status != PROXY_OK) return raise_status("set_property", status);
  Py_RETURN_NONE;
}

/* ---- shared data and queues ---------------------------------------------------------- */

static PyObject *abi_get_shared_data(PyObject *self, PyObject *arg) {
  view_t key;
  if (view_of(arg, &key) < 0) return NULL;
  char *value = NULL;
  size_t size = 0;
  uint32_t cas = 0;
  proxy_status_t status = proxy_get_shared_data(key.data, (size_t)key.size, &value, &size, &cas);
  view_release(&key);
  if (status == PROXY_NOT_FOUND) { free(value); return Py_BuildValue("(OI)", Py_None, cas); }
  if (status != PROXY_OK) { free(value); return raise_status("get_shared_data", status); }
  PyObject *data = PyBytes_FromStringAndSize(value ? value : "", (Py_ssize_t)size);
  free(value);
  if (data == NULL) return NULL;
  PyObject *result = Py_BuildValue("(NI)", data, cas);
  return result;
}

static PyObject *abi_set_shared_data(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("set_shared_data", 3);
  view_t key, value;
  uint32_t cas;
  if (arg_u32(args[2], &cas) < 0 || view_of(args[0], &key) < 0) return NULL;
  if (view_of(args[1], &value) < 0) { view_release(&key); return NULL; }
  proxy_status_t status = proxy_set_shared_data(key.data, (size_t)key.size, value.data,
                                                (size_t)value.size, cas);
  view_release(&key);
  view_release(&value);
  if (status != PROXY_OK) return raise_status("set_shared_data", status);
  Py_RETURN_NONE;
}

static PyObject *abi_register_queue(PyObject *self, PyObject *arg) {
  view_t name;
  if (view_of(arg, &name) < 0) return NULL;
  uint32_t token = 0;
  proxy_status_t status = proxy_register_shared_queue(name.data, (size_t)name.size, &token);
  view_release(&name);
  if (status != PROXY_OK) return raise_status("register_queue", status);
  return PyLong_FromUnsignedLong(token);
}

static PyObject *abi_resolve_queue(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("resolve_queue", 2);
  view_t vm_id, name;
  if (view_of(args[0], &vm_id) < 0) return NULL;
  if (view_of(args[1], &name) < 0) { view_release(&vm_id); return NULL; }
  uint32_t token = 0;
  proxy_status_t status = proxy_resolve_shared_queue(vm_id.data, (size_t)vm_id.size, name.data,
                                                     (size_t)name.size, &token);
  view_release(&vm_id);
  view_release(&name);
  if (status == PROXY_NOT_FOUND) Py_RETURN_NONE;
  if (status != PROXY_OK) return raise_status("resolve_queue", status);
  return PyLong_FromUnsignedLong(token);
}

static PyObject *abi_enqueue(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("enqueue", 2);
  uint32_t token;
  view_t data;
  if (arg_u32(args[0], &token) < 0 || view_of(args[1], &data) < 0) return NULL;
  proxy_status_t status = proxy_enqueue_shared_queue(token, data.data, (size_t)data.size);
  view_release(&data);
  if (status != PROXY_OK) return raise_status("enqueue", status);
  Py_RETURN_NONE;
}

static PyObject *abi_dequeue(PyObject *self, PyObject *arg) {
  uint32_t token;
  if (arg_u32(arg, &token) < 0) return NULL;
  char *data = NULL;
  size_t size = 0;
  proxy_status_t status = proxy_dequeue_shared_queue(token, &data, &size);
  if (status == PROXY_EMPTY) { free(data); Py_RETURN_NONE; }
  if (status != PROXY_OK) { free(data); return raise_status("dequeue", status); }
  PyObject *result = PyBytes_FromStringAndSize(data ? data : "", (Py_ssize_t)size);
  free(data);
  return result;
}

/* ---- http_call ------------------------------------------------------------------------- */

static PyObject *abi_http_call(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("http_call", 5);
  view_t upstream, body;
  uint32_t timeout_ms;
  if (arg_u32(args[4], &timeout_ms) < 0 || view_of(args[0], &upstream) < 0) return NULL;
  if (view_of(args[2], &body) < 0) { view_release(&upstream); return NULL; }
  size_t headers_size = 0, trailers_size = 0;
  char *headers = serialize_pairs(args[1], &headers_size);
  char *trailers = headers ? serialize_pairs(args[3], &trailers_size) : NULL;
  proxy_status_t status = PROXY_OK;
  uint32_t token = 0;
  if (trailers != NULL)
    status = proxy_http_call(upstream.data, (size_t)upstream.size, headers, headers_size,
                             body.data, (size_t)body.size, trailers, trailers_size, timeout_ms,
                             &token);
  free(headers);
  view_release(&upstream);
  view_release(&body);
  if (trailers == NULL) return NULL;
  free(trailers);
  if (status != PROXY_OK) return raise_status("http_call", status);
  return PyLong_FromUnsignedLong(token);
}

/* ---- metrics --------------------------------------------------------------------------- */

static PyObject *abi_define_metric(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("define_metric", 2);
  uint32_t type;
  view_t name;
  if (arg_u32(args[0], &type) < 0 || view_of(args[1], &name) < 0) return NULL;
  uint32_t id = 0;
  proxy_status_t status = proxy_define_metric(type, name.data, (size_t)name.size, &id);
  view_release(&name);
  if (status != PROXY_OK) return raise_status("define_metric", status);
  return PyLong_FromUnsignedLong(id);
}

static PyObject *abi_increment_metric(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("increment_metric", 2);
  uint32_t id;
  if (arg_u32(args[0], &id) < 0) return NULL;
  long long offset = PyLong_AsLongLong(args[1]);
  if (offset == -1 && PyErr_Occurred()) return NULL;
  proxy_status_t status = proxy_increment_metric(id, (int64_t)offset);
  if (status != PROXY_OK) return raise_status("increment_metric", status);
  Py_RETURN_NONE;
}

static PyObject *abi_record_metric(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("record_metric", 2);
  uint32_t id;
  if (arg_u32(args[0], &id) < 0) return NULL;
  unsigned long long value = PyLong_AsUnsignedLongLong(args[1]);
  if (value == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
  proxy_status_t status = proxy_record_metric(id, (uint64_t)value);
  if (status != PROXY_OK) return raise_status("record_metric", status);
  Py_RETURN_NONE;
}

static PyObject *abi_get_metric(PyObject *self, PyObject *arg) {
  uint32_t id;
  if (arg_u32(arg, &id) < 0) return NULL;
  uint64_t value = 0;
  proxy_status_t status = proxy_get_metric(id, &value);
  if (status != PROXY_OK) return raise_status("get_metric", status);
  return PyLong_FromUnsignedLongLong(value);
}

static PyMethodDef abi_methods[] = {
    {"log", (PyCFunction)(void (*)(void))abi_log, METH_FASTCALL, "log(level, message)"},
    {"get_log_level", abi_get_log_level, METH_NOARGS, "get_log_level() -> int"},
    {"get_current_time_ns", abi_get_current_time_ns, METH_NOARGS, "wall clock, ns"},
    {"set_tick_period", abi_set_tick_period, METH_O, "set_tick_period(ms)"},
    {"set_effective_context", abi_set_effective_context, METH_O, "set_effective_context(id)"},
    {"get_header", (PyCFunction)(void (*)(void))abi_get_header, METH_FASTCALL,
     "get_header(map, name) -> str | None"},
    {"get_headers", abi_get_headers, METH_O, "get_headers(map) -> [(name, value)]"},
    {"set_headers", (PyCFunction)(void (*)(void))abi_set_headers, METH_FASTCALL,
     "set_headers(map, pairs)"},
    {"add_header", (PyCFunction)(void (*)(void))abi_add_header, METH_FASTCALL,
     "add_header(map, name, value)"},
    {"replace_header", (PyCFunction)(void (*)(void))abi_replace_header, METH_FASTCALL,
     "replace_header(map, name, value)"},
    {"remove_header", (PyCFunction)(void (*)(void))abi_remove_header, METH_FASTCALL,
     "remove_header(map, name)"},
    {"get_buffer", (PyCFunction)(void (*)(void))abi_get_buffer, METH_FASTCALL,
     "get_buffer(type, start, length) -> bytes | None"},
    {"set_buffer", (PyCFunction)(void (*)(void))abi_set_buffer, METH_FASTCALL,
     "set_buffer(type, start, length, data)"},
    {"send_local_response", (PyCFunction)(void (*)(void))abi_send_local_response,
     METH_FASTCALL, "send_local_response(status, details, body, headers, grpc_status)"},
    {"continue_stream", abi_continue_stream, METH_O, "continue_stream(stream_type)"},
    {"close_stream", abi_close_stream, METH_O, "close_stream(stream_type)"},
    {"get_property", abi_get_property, METH_O, "get_property(path) -> bytes | None"},
    {"set_property", (PyCFunction)(void (*)(void))abi_set_property, METH_FASTCALL,
     "set_property(path, value)"},
    {"get_shared_data", abi_get_shared_data, METH_O,
     "get_shared_data(key) -> (bytes | None, cas)"},
    {"set_shared_data", (PyCFunction)(void (*)(void))abi_set_shared_data, METH_FASTCALL,
     "set_shared_data(key, value, cas)"},
    {"register_queue", abi_register_queue, METH_O, "register_queue(name) -> id"},
    {"resolve_queue", (PyCFunction)(void (*)(void))abi_resolve_queue, METH_FASTCALL,
     "resolve_queue(vm_id, name) -> id | None"},
    {"enqueue", (PyCFunction)(void (*)(void))abi_enqueue, METH_FASTCALL, "enqueue(id, data)"},
    {"dequeue", abi_dequeue, METH_O, "dequeue(id) -> bytes | None"},
    {"http_call", (PyCFunction)(void (*)(void))abi_http_call, METH_FASTCALL,
     "http_call(upstream, headers, body, trailers, timeout_ms) -> token"},
    {"define_metric", (PyCFunction)(void (*)(void))abi_define_metric, METH_FASTCALL,
     "define_metric(type, name) -> id"},
    {"increment_metric", (PyCFunction)(void (*)(void))abi_increment_metric, METH_FASTCALL,
     "increment_metric(id, delta)"},
    {"record_metric", (PyCFunction)(void (*)(void))abi_record_metric, METH_FASTCALL,
     "record_metric(id, value)"},
    {"get_metric", abi_get_metric, METH_O, "get_metric(id) -> int"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef abi_module = {
    PyModuleDef_HEAD_INIT, "_proxy_wasm_abi", "Raw proxy-wasm 0.2.1 host calls.", -1,
    abi_methods,
};

PyObject *PyInit__proxy_wasm_abi(void) {
  PyObject *module = PyModule_Create(&abi_module);
  if (module == NULL) return NULL;
  host_call_error = PyErr_NewException("_proxy_wasm_abi.HostCallError", NULL, NULL);
  if (host_call_error == NULL || PyModule_AddObjectRef(module, "HostCallError",
                                                        host_call_error) < 0) {
    Py_DECREF(module);
    return NULL;
  }
  return module;
}
