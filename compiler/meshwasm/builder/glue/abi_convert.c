/* Conversions between Python values and the ABI's pointers/sizes, for _proxy_wasm_abi. */
#include <stdlib.h>
#include <string.h>

#include "abi_internal.h"

PyObject *abi_host_call_error; /* _proxy_wasm_abi.HostCallError */

PyObject *abi_raise_status(const char *call, proxy_status_t status) {
  PyObject *args = Py_BuildValue("(sI)", call, (unsigned int)status);
  if (args != NULL) {
    PyErr_SetObject(abi_host_call_error, args);
    Py_DECREF(args);
  }
  return NULL;
}

/* Text <-> bytes: header names and values are byte strings in Envoy; authors see str.
 * surrogateescape keeps any byte sequence round-trippable. */
PyObject *abi_text(const char *data, size_t size) {
  return PyUnicode_DecodeUTF8(data, (Py_ssize_t)size, "surrogateescape");
}


int abi_view(PyObject *object, abi_view_t *view) {
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

void abi_view_release(abi_view_t *view) { Py_CLEAR(view->owner); }


PyObject *abi_one_argument(const char *function, const char *name, PyObject *const *args,
                           Py_ssize_t nargs, PyObject *kwnames) {
  Py_ssize_t positional = PyVectorcall_NARGS(nargs);
  Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  if (positional == 1 && nkw == 0) return args[0];
  if (positional == 0 && nkw == 1 &&
      PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), name) == 0)
    return args[0];
  PyErr_Format(PyExc_TypeError, "%s() takes one argument (%s)", function, name);
  return NULL;
}

int abi_arg_u32(PyObject *object, uint32_t *out) {
  unsigned long value = PyLong_AsUnsignedLong(object);
  if (value == (unsigned long)-1 && PyErr_Occurred()) return -1;
  *out = (uint32_t)value;
  return 0;
}

/* Serialize [(key, value), ...] into the ABI's header-pairs layout:
 * u32 count, count x (u32 key_len, u32 value_len), then each key\0value\0. */
char *abi_serialize_pairs(PyObject *pairs, size_t *out_size) {
  PyObject *seq = PySequence_Fast(pairs, "headers must be a sequence of (name, value) pairs");
  if (seq == NULL) return NULL;
  Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
  abi_view_t *views = PyMem_Calloc(count > 0 ? (size_t)count * 2 : 1, sizeof(abi_view_t));
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
    if (abi_view(PyTuple_GET_ITEM(pair, 0), &views[2 * done]) < 0) goto out;
    if (abi_view(PyTuple_GET_ITEM(pair, 1), &views[2 * done + 1]) < 0) {
      abi_view_release(&views[2 * done]);
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
  for (Py_ssize_t i = 0; i < 2 * done; i++) abi_view_release(&views[i]);
  PyMem_Free(views);
  Py_DECREF(seq);
  return buffer;
}

PyObject *abi_deserialize_pairs(const char *data, size_t size) {
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
    PyObject *key = abi_text(cursor, key_size);
    cursor += key_size + 1;
    PyObject *value = abi_text(cursor, value_size);
    cursor += value_size + 1;
    PyObject *pair = (key && value) ? PyTuple_Pack(2, key, value) : NULL;
    Py_XDECREF(key);
    Py_XDECREF(value);
    if (pair == NULL) { Py_DECREF(list); return NULL; }
    PyList_SET_ITEM(list, i, pair);
  }
  return list;
}
