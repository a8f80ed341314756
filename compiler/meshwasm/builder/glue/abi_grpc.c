/* _proxy_wasm_abi: gRPC calls and streams, and proxy_get_status (a closed call's message). */
#include <stdlib.h>

#include "abi_internal.h"

/* What every gRPC call or stream starts with: upstream, service, method (views of args[0..2])
 * and the serialized metadata (args[3]). */
typedef struct {
  abi_view_t upstream, service, method;
  char *metadata;
  size_t metadata_size;
} grpc_target_t;

static void target_release(grpc_target_t *target, int views) {
  if (views > 0) abi_view_release(&target->upstream);
  if (views > 1) abi_view_release(&target->service);
  if (views > 2) abi_view_release(&target->method);
  free(target->metadata);
  target->metadata = NULL;
}

/* 0, or -1 with a Python exception (nothing left to release). */
static int target_of(PyObject *const *args, grpc_target_t *target) {
  target->metadata = NULL;
  abi_view_t *views[3] = {&target->upstream, &target->service, &target->method};
  for (int i = 0; i < 3; i++) {
    if (abi_view(args[i], views[i]) < 0) {
      target_release(target, i);
      return -1;
    }
  }
  target->metadata = abi_serialize_pairs(args[3], &target->metadata_size);
  if (target->metadata == NULL) {
    target_release(target, 3);
    return -1;
  }
  return 0;
}

/* The token of a call or stream the host opened with `status`, or HostCallError. */
static PyObject *opened(const char *name, grpc_target_t *target, proxy_status_t status,
                        uint32_t token) {
  target_release(target, 3);
  if (status != PROXY_OK) return abi_raise_status(name, status);
  return PyLong_FromUnsignedLong(token);
}

/* grpc_call(upstream, service, method, metadata, message, timeout_ms) -> token */
PyObject *abi_grpc_call(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("grpc_call", 6);
  uint32_t timeout_ms;
  grpc_target_t target;
  abi_view_t message;
  if (abi_arg_u32(args[5], &timeout_ms) < 0 || abi_view(args[4], &message) < 0) return NULL;
  if (target_of(args, &target) < 0) { abi_view_release(&message); return NULL; }
  uint32_t token = 0;
  proxy_status_t status = proxy_grpc_call(
      target.upstream.data, (size_t)target.upstream.size, target.service.data,
      (size_t)target.service.size, target.method.data, (size_t)target.method.size,
      target.metadata, target.metadata_size, message.data, (size_t)message.size, timeout_ms,
      &token);
  abi_view_release(&message);
  return opened("grpc_call", &target, status, token);
}

/* grpc_stream(upstream, service, method, metadata) -> token */
PyObject *abi_grpc_stream(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("grpc_stream", 4);
  grpc_target_t target;
  if (target_of(args, &target) < 0) return NULL;
  uint32_t token = 0;
  proxy_status_t status = proxy_grpc_stream(
      target.upstream.data, (size_t)target.upstream.size, target.service.data,
      (size_t)target.service.size, target.method.data, (size_t)target.method.size,
      target.metadata, target.metadata_size, &token);
  return opened("grpc_stream", &target, status, token);
}

/* grpc_send(token, message, end_stream) */
PyObject *abi_grpc_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  CHECK_NARGS("grpc_send", 3);
  uint32_t token;
  abi_view_t message;
  int end_stream = PyObject_IsTrue(args[2]);
  if (end_stream < 0 || abi_arg_u32(args[0], &token) < 0 || abi_view(args[1], &message) < 0)
    return NULL;
  proxy_status_t status =
      proxy_grpc_send(token, message.data, (size_t)message.size, (uint32_t)end_stream);
  abi_view_release(&message);
  if (status != PROXY_OK) return abi_raise_status("grpc_send", status);
  Py_RETURN_NONE;
}

typedef proxy_status_t (*token_call_fn)(uint32_t);

static PyObject *token_call(const char *name, token_call_fn call, PyObject *arg) {
  uint32_t token;
  if (abi_arg_u32(arg, &token) < 0) return NULL;
  proxy_status_t status = call(token);
  if (status != PROXY_OK) return abi_raise_status(name, status);
  Py_RETURN_NONE;
}

PyObject *abi_grpc_cancel(PyObject *self, PyObject *arg) {
  return token_call("grpc_cancel", proxy_grpc_cancel, arg);
}

PyObject *abi_grpc_close(PyObject *self, PyObject *arg) {
  return token_call("grpc_close", proxy_grpc_close, arg);
}

/* get_status() -> (code, message bytes): the status of the gRPC call being closed. */
PyObject *abi_get_status(PyObject *self, PyObject *unused) {
  uint32_t code = 0;
  char *message = NULL;
  size_t size = 0;
  proxy_status_t status = proxy_get_status(&code, &message, &size);
  if (status != PROXY_OK) { free(message); return abi_raise_status("get_status", status); }
  PyObject *text = PyBytes_FromStringAndSize(message ? message : "", (Py_ssize_t)size);
  free(message);
  if (text == NULL) return NULL;
  return Py_BuildValue("(IN)", code, text);
}
