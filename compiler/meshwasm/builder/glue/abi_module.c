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

#include "abi_internal.h"

/* ---- logging and time ---------------------------------------------------------------- */

static PyObject *abi_log(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("log", 2);
  uint32_t level;
  abi_view_t message;
  if (abi_arg_u32(args[0], &level) < 0 || abi_view(args[1], &message) < 0) return NULL;
  proxy_log(level, message.data, (size_t)message.size);
  abi_view_release(&message);
  Py_RETURN_NONE;
}

/* log_info(message) etc.: proxy_wasm.log's functions bound to their level (one call from
 * Python, no interpreter frame). */
static PyObject *log_at(uint32_t level, PyObject *arg) {
  abi_view_t message;
  if (abi_view(arg, &message) < 0) return NULL;
  proxy_log(level, message.data, (size_t)message.size);
  abi_view_release(&message);
  Py_RETURN_NONE;
}

#define LOG_AT(name, level)                                                                \
  static PyObject *abi_log_##name(PyObject *self, PyObject *const *args, Py_ssize_t nargs,  \
                                  PyObject *kwnames) {                                     \
    PyObject *message = abi_one_argument(#name, "message", args, nargs, kwnames);          \
    return message ? log_at(level, message) : NULL;                                        \
  }
LOG_AT(trace, PROXY_LOG_TRACE)
LOG_AT(debug, PROXY_LOG_DEBUG)
LOG_AT(info, PROXY_LOG_INFO)
LOG_AT(warn, PROXY_LOG_WARN)
LOG_AT(error, PROXY_LOG_ERROR)
LOG_AT(critical, PROXY_LOG_CRITICAL)

static PyObject *abi_get_log_level(PyObject *self, PyObject *unused) {
  uint32_t level = 0;
  proxy_status_t status = proxy_get_log_level(&level);
  if (status != PROXY_OK) return abi_raise_status("get_log_level", status);
  return PyLong_FromUnsignedLong(level);
}

static PyObject *abi_get_current_time_ns(PyObject *self, PyObject *unused) {
  uint64_t now = 0;
  proxy_status_t status = proxy_get_current_time_nanoseconds(&now);
  if (status != PROXY_OK) return abi_raise_status("get_current_time_ns", status);
  return PyLong_FromUnsignedLongLong(now);
}

static PyObject *abi_set_tick_period(PyObject *self, PyObject *arg) {
  uint32_t period;
  if (abi_arg_u32(arg, &period) < 0) return NULL;
  proxy_status_t status = proxy_set_tick_period_milliseconds(period);
  if (status != PROXY_OK) return abi_raise_status("set_tick_period", status);
  Py_RETURN_NONE;
}

static PyObject *abi_set_effective_context(PyObject *self, PyObject *arg) {
  uint32_t id;
  if (abi_arg_u32(arg, &id) < 0) return NULL;
  proxy_status_t status = proxy_set_effective_context(id);
  if (status != PROXY_OK) return abi_raise_status("set_effective_context", status);
  Py_RETURN_NONE;
}

static PyObject *abi_done(PyObject *self, PyObject *unused) {
  proxy_status_t status = proxy_done();
  if (status != PROXY_OK) return abi_raise_status("done", status);
  Py_RETURN_NONE;
}

/* ---- header maps --------------------------------------------------------------------- */

PyObject *abi_get_header(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("get_header", 2);
  uint32_t map;
  abi_view_t key;
  if (abi_arg_u32(args[0], &map) < 0 || abi_view(args[1], &key) < 0) return NULL;
  char *value = NULL;
  size_t value_size = 0;
  proxy_status_t status =
      proxy_get_header_map_value(map, key.data, (size_t)key.size, &value, &value_size);
  abi_view_release(&key);
  if (status == PROXY_NOT_FOUND) { free(value); Py_RETURN_NONE; }
  if (status != PROXY_OK) { free(value); return abi_raise_status("get_header", status); }
  /* Envoy answers Ok with an empty value for a missing header; see proxy-wasm spec. */
  PyObject *result = abi_text(value ? value : "", value_size);
  free(value);
  return result;
}

PyObject *abi_get_headers(PyObject *self, PyObject *arg) {
  uint32_t map;
  if (abi_arg_u32(arg, &map) < 0) return NULL;
  char *data = NULL;
  size_t size = 0;
  proxy_status_t status = proxy_get_header_map_pairs(map, &data, &size);
  if (status == PROXY_NOT_FOUND) { free(data); return PyList_New(0); }
  if (status != PROXY_OK) { free(data); return abi_raise_status("get_headers", status); }
  PyObject *result = abi_deserialize_pairs(data, size);
  free(data);
  return result;
}

static PyObject *abi_set_headers(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("set_headers", 2);
  uint32_t map;
  if (abi_arg_u32(args[0], &map) < 0) return NULL;
  size_t size = 0;
  char *data = abi_serialize_pairs(args[1], &size);
  if (data == NULL) return NULL;
  proxy_status_t status = proxy_set_header_map_pairs(map, data, size);
  free(data);
  if (status != PROXY_OK) return abi_raise_status("set_headers", status);
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
  abi_view_t key, value;
  if (abi_arg_u32(args[0], &map) < 0 || abi_view(args[1], &key) < 0) return NULL;
  if (abi_view(args[2], &value) < 0) { abi_view_release(&key); return NULL; }
  proxy_status_t status =
      write(map, key.data, (size_t)key.size, value.data, (size_t)value.size);
  abi_view_release(&key);
  abi_view_release(&value);
  if (status != PROXY_OK) return abi_raise_status(name, status);
  Py_RETURN_NONE;
}

PyObject *abi_add_header(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  return header_write("add_header", proxy_add_header_map_value, args, nargs);
}

PyObject *abi_replace_header(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  return header_write("replace_header", proxy_replace_header_map_value, args, nargs);
}

PyObject *abi_remove_header(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("remove_header", 2);
  uint32_t map;
  abi_view_t key;
  if (abi_arg_u32(args[0], &map) < 0 || abi_view(args[1], &key) < 0) return NULL;
  proxy_status_t status = proxy_remove_header_map_value(map, key.data, (size_t)key.size);
  abi_view_release(&key);
  if (status != PROXY_OK && status != PROXY_NOT_FOUND)
    return abi_raise_status("remove_header", status);
  Py_RETURN_NONE;
}

/* ---- buffers ------------------------------------------------------------------------- */

static PyObject *abi_get_buffer(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("get_buffer", 3);
  uint32_t type, start, length;
  if (abi_arg_u32(args[0], &type) < 0 || abi_arg_u32(args[1], &start) < 0 ||
      abi_arg_u32(args[2], &length) < 0)
    return NULL;
  char *data = NULL;
  size_t size = 0;
  proxy_status_t status = proxy_get_buffer_bytes(type, start, length, &data, &size);
  if (status == PROXY_NOT_FOUND || status == PROXY_EMPTY) { free(data); Py_RETURN_NONE; }
  if (status != PROXY_OK) { free(data); return abi_raise_status("get_buffer", status); }
  PyObject *result = PyBytes_FromStringAndSize(data ? data : "", (Py_ssize_t)size);
  free(data);
  return result;
}

static PyObject *abi_set_buffer(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("set_buffer", 4);
  uint32_t type, start, length;
  abi_view_t data;
  if (abi_arg_u32(args[0], &type) < 0 || abi_arg_u32(args[1], &start) < 0 ||
      abi_arg_u32(args[2], &length) < 0 || abi_view(args[3], &data) < 0)
    return NULL;
  proxy_status_t status = proxy_set_buffer_bytes(type, start, length, data.data,
                                                 (size_t)data.size);
  abi_view_release(&data);
  if (status != PROXY_OK) return abi_raise_status("set_buffer", status);
  Py_RETURN_NONE;
}

/* ---- stream control ------------------------------------------------------------------ */

static PyObject *abi_send_local_response(PyObject *self, PyObject *const *args,
                                         Py_ssize_t nargs) {
  CHECK_NARGS("send_local_response", 5);
  uint32_t status_code;
  long grpc_status;
  abi_view_t details, body;
  if (abi_arg_u32(args[0], &status_code) < 0) return NULL;
  grpc_status = PyLong_AsLong(args[4]);
  if (grpc_status == -1 && PyErr_Occurred()) return NULL;
  if (abi_view(args[1], &details) < 0) return NULL;
  if (abi_view(args[2], &body) < 0) { abi_view_release(&details); return NULL; }
  size_t headers_size = 0;
  char *headers = abi_serialize_pairs(args[3], &headers_size);
  proxy_status_t status = PROXY_OK;
  if (headers != NULL)
    status = proxy_send_local_response(status_code, details.data, (size_t)details.size,
                                       body.data, (size_t)body.size, headers, headers_size,
                                       (int32_t)grpc_status);
  free(headers);
  abi_view_release(&details);
  abi_view_release(&body);
  if (headers == NULL) return NULL;
  if (status != PROXY_OK) return abi_raise_status("send_local_response", status);
  Py_RETURN_NONE;
}

static PyObject *abi_continue_stream(PyObject *self, PyObject *arg) {
  uint32_t stream;
  if (abi_arg_u32(arg, &stream) < 0) return NULL;
  proxy_status_t status = proxy_continue_stream(stream);
  if (status != PROXY_OK) return abi_raise_status("continue_stream", status);
  Py_RETURN_NONE;
}

static PyObject *abi_close_stream(PyObject *self, PyObject *arg) {
  uint32_t stream;
  if (abi_arg_u32(arg, &stream) < 0) return NULL;
  proxy_status_t status = proxy_close_stream(stream);
  if (status != PROXY_OK) return abi_raise_status("close_stream", status);
  Py_RETURN_NONE;
}

/* ---- properties ---------------------------------------------------------------------- */

static PyObject *abi_get_property(PyObject *self, PyObject *arg) {
  abi_view_t path;
  if (abi_view(arg, &path) < 0) return NULL;
  char *value = NULL;
  size_t size = 0;
  proxy_status_t status = proxy_get_property(path.data, (size_t)path.size, &value, &size);
  abi_view_release(&path);
  if (status == PROXY_NOT_FOUND) { free(value); Py_RETURN_NONE; }
  if (status != PROXY_OK) { free(value); return abi_raise_status("get_property", status); }
  PyObject *result = PyBytes_FromStringAndSize(value ? value : "", (Py_ssize_t)size);
  free(value);
  return result;
}

static PyObject *abi_set_property(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("set_property", 2);
  abi_view_t path, value;
  if (abi_view(args[0], &path) < 0) return NULL;
  if (abi_view(args[1], &value) < 0) { abi_view_release(&path); return NULL; }
  proxy_status_t status =
      proxy_set_property(path.data, (size_t)path.size, value.data, (size_t)value.size);
  abi_view_release(&path);
  abi_view_release(&value);
  if (status != PROXY_OK) return abi_raise_status("set_property", status);
  Py_RETURN_NONE;
}

static PyMethodDef abi_methods[] = {
    {"log", (PyCFunction)(void (*)(void))abi_log, METH_FASTCALL, "log(level, message)"},
    {"log_trace", (PyCFunction)(void (*)(void))abi_log_trace, METH_FASTCALL | METH_KEYWORDS,
     "log_trace(message)"},
    {"log_debug", (PyCFunction)(void (*)(void))abi_log_debug, METH_FASTCALL | METH_KEYWORDS,
     "log_debug(message)"},
    {"log_info", (PyCFunction)(void (*)(void))abi_log_info, METH_FASTCALL | METH_KEYWORDS,
     "log_info(message)"},
    {"log_warn", (PyCFunction)(void (*)(void))abi_log_warn, METH_FASTCALL | METH_KEYWORDS,
     "log_warn(message)"},
    {"log_error", (PyCFunction)(void (*)(void))abi_log_error, METH_FASTCALL | METH_KEYWORDS,
     "log_error(message)"},
    {"log_critical", (PyCFunction)(void (*)(void))abi_log_critical, METH_FASTCALL | METH_KEYWORDS,
     "log_critical(message)"},
    {"get_log_level", abi_get_log_level, METH_NOARGS, "get_log_level() -> int"},
    {"get_current_time_ns", abi_get_current_time_ns, METH_NOARGS, "wall clock, ns"},
    {"set_tick_period", abi_set_tick_period, METH_O, "set_tick_period(ms)"},
    {"set_effective_context", abi_set_effective_context, METH_O, "set_effective_context(id)"},
    {"done", abi_done, METH_NOARGS, "done(): proxy_done"},
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
    {"shared_data_get", (PyCFunction)(void (*)(void))abi_shared_data_get,
     METH_FASTCALL | METH_KEYWORDS, "shared_data_get(key): proxy_wasm.shared_data.get in C"},
    {"set_shared_data", (PyCFunction)(void (*)(void))abi_set_shared_data, METH_FASTCALL,
     "set_shared_data(key, value, cas)"},
    {"try_set_shared_data", (PyCFunction)(void (*)(void))abi_try_set_shared_data,
     METH_FASTCALL | METH_KEYWORDS,
     "try_set_shared_data(key, value, cas=0) -> False on a CAS conflict"},
    {"register_queue", abi_register_queue, METH_O, "register_queue(name) -> id"},
    {"resolve_queue", (PyCFunction)(void (*)(void))abi_resolve_queue, METH_FASTCALL,
     "resolve_queue(vm_id, name) -> id | None"},
    {"enqueue", (PyCFunction)(void (*)(void))abi_enqueue, METH_FASTCALL, "enqueue(id, data)"},
    {"dequeue", abi_dequeue, METH_O, "dequeue(id) -> bytes | None"},
    {"call_foreign_function", (PyCFunction)(void (*)(void))abi_call_foreign_function,
     METH_FASTCALL, "call_foreign_function(name, argument) -> bytes | None"},
    {"http_call", (PyCFunction)(void (*)(void))abi_http_call, METH_FASTCALL,
     "http_call(upstream, headers, body, trailers, timeout_ms) -> token"},
    {"grpc_call", (PyCFunction)(void (*)(void))abi_grpc_call, METH_FASTCALL,
     "grpc_call(upstream, service, method, metadata, message, timeout_ms) -> token"},
    {"grpc_stream", (PyCFunction)(void (*)(void))abi_grpc_stream, METH_FASTCALL,
     "grpc_stream(upstream, service, method, metadata) -> token"},
    {"grpc_send", (PyCFunction)(void (*)(void))abi_grpc_send, METH_FASTCALL,
     "grpc_send(token, message, end_stream)"},
    {"grpc_cancel", abi_grpc_cancel, METH_O, "grpc_cancel(token)"},
    {"grpc_close", abi_grpc_close, METH_O, "grpc_close(token)"},
    {"get_status", abi_get_status, METH_NOARGS, "get_status() -> (code, message)"},
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
  if (abi_add_header_map_type(module) < 0 || abi_add_metric_type(module) < 0) {
    Py_DECREF(module);
    return NULL;
  }
  abi_host_call_error = PyErr_NewException("_proxy_wasm_abi.HostCallError", NULL, NULL);
  if (abi_host_call_error == NULL || PyModule_AddObjectRef(module, "HostCallError",
                                                        abi_host_call_error) < 0) {
    Py_DECREF(module);
    return NULL;
  }
  return module;
}
