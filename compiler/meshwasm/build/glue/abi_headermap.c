/* _proxy_wasm_abi.HeaderMapBase: the hot header-map methods of proxy_wasm.HeaderMap in C.
 *
 * A filter reads and writes headers on every request; as Python methods each would cost an
 * interpreter entry on top of the host call.  The SDK's HeaderMap subclasses this type inside
 * a compiled module (and a plain-Python base with the same methods everywhere else); both
 * only forward to the host calls of abi_module.c, which hold the semantics.
 */
#include <stddef.h>

#include "abi_internal.h" /* Python.h first: structmember.h needs it */

#include <structmember.h>

typedef struct {
  PyObject_HEAD
  int map; /* proxy-wasm map type */
} header_map_t;

static int header_map_init(header_map_t *self, PyObject *args, PyObject *kwargs) {
  int map;
  static char *names[] = {"map_type", NULL};
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "i", names, &map)) return -1;
  self->map = map;
  return 0;
}

/* The map type as an int object (small ints are cached: no allocation). */
static PyObject *map_number(header_map_t *self) { return PyLong_FromLong(self->map); }

static PyObject *header_map_get(header_map_t *self, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs < 1 || nargs > 2) {
    PyErr_Format(PyExc_TypeError, "get() takes 1 or 2 arguments (%zd given)", nargs);
    return NULL;
  }
  PyObject *map = map_number(self);
  if (map == NULL) return NULL;
  PyObject *call[2] = {map, args[0]};
  PyObject *value = abi_get_header(NULL, call, 2);
  Py_DECREF(map);
  if (value != Py_None || nargs == 1) return value;
  Py_DECREF(value);
  return Py_NewRef(args[1]);
}

static PyObject *write_with(PyObject *(*write)(PyObject *, PyObject *const *, Py_ssize_t),
                            header_map_t *self, PyObject *const *args, Py_ssize_t nargs,
                            Py_ssize_t expected, const char *name) {
  if (nargs != expected) {
    PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", name, expected,
                 nargs);
    return NULL;
  }
  PyObject *map = map_number(self);
  if (map == NULL) return NULL;
  PyObject *call[3] = {map, args[0], expected > 1 ? args[1] : NULL};
  PyObject *result = write(NULL, call, expected + 1);
  Py_DECREF(map);
  return result;
}

static PyObject *header_map_set(header_map_t *self, PyObject *const *args, Py_ssize_t nargs) {
  return write_with(abi_replace_header, self, args, nargs, 2, "set");
}

static PyObject *header_map_add(header_map_t *self, PyObject *const *args, Py_ssize_t nargs) {
  return write_with(abi_add_header, self, args, nargs, 2, "add");
}

static PyObject *header_map_remove(header_map_t *self, PyObject *const *args,
                                   Py_ssize_t nargs) {
  return write_with(abi_remove_header, self, args, nargs, 1, "remove");
}

static PyObject *header_map_items(header_map_t *self, PyObject *unused) {
  PyObject *map = map_number(self);
  if (map == NULL) return NULL;
  PyObject *result = abi_get_headers(NULL, map);
  Py_DECREF(map);
  return result;
}

static PyMethodDef header_map_methods[] = {
    {"get", (PyCFunction)(void (*)(void))header_map_get, METH_FASTCALL,
     "get(name, default=None): the first value of name, or default"},
    {"set", (PyCFunction)(void (*)(void))header_map_set, METH_FASTCALL,
     "set(name, value): replace every value of name"},
    {"add", (PyCFunction)(void (*)(void))header_map_add, METH_FASTCALL,
     "add(name, value): append a value"},
    {"remove", (PyCFunction)(void (*)(void))header_map_remove, METH_FASTCALL,
     "remove(name): remove every value of name"},
    {"items", (PyCFunction)header_map_items, METH_NOARGS, "items(): all (name, value) pairs"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef header_map_members[] = {
    {"_map", T_INT, offsetof(header_map_t, map), READONLY, "the proxy-wasm map type"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject header_map_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_proxy_wasm_abi.HeaderMapBase",
    .tp_basicsize = sizeof(header_map_t),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "The host-call methods of proxy_wasm.HeaderMap, in C.",
    .tp_methods = header_map_methods,
    .tp_members = header_map_members,
    .tp_init = (initproc)header_map_init,
    .tp_new = PyType_GenericNew,
};

int abi_add_header_map_type(PyObject *module) {
  if (PyType_Ready(&header_map_type) < 0) return -1;
  return PyModule_AddObjectRef(module, "HeaderMapBase", (PyObject *)&header_map_type);
}
