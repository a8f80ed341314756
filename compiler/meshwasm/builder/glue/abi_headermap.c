/* The SDK's C base types: the per-request methods of proxy_wasm.HeaderMap and HttpContext.
 *
 * _proxy_wasm_abi.HeaderMapBase: a filter reads and writes headers on every request; as
 * Python methods each would cost an interpreter entry on top of the host call.  The SDK's
 * HeaderMap subclasses this type inside a compiled module (and a plain-Python base with the
 * same methods everywhere else); both only forward to the host calls of abi_module.c, which
 * hold the semantics.
 *
 * _proxy_wasm_abi.StreamBase: HttpContext's context_id, root and skipped-callback bits as C
 * fields, so the runtime (exports.c) creates a stream context and checks which callbacks it
 * still needs without attribute look-ups.
 *
 * _proxy_wasm_abi.StreamTable: _dispatch._streams inside a module, context id -> context.  A
 * dict there cost an int object per look-up and a resize every few requests (each request
 * adds a new id and removes it); this open-addressing table does neither.
 */
#include <stddef.h>
#include <stdlib.h>

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

/* Names match as Envoy's header maps do: ASCII case-insensitively. */
static int same_name(const char *a, const char *b, size_t size) {
  for (size_t i = 0; i < size; i++) {
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    if (x >= 'A' && x <= 'Z') x += 32;
    if (y >= 'A' && y <= 'Z') y += 32;
    if (x != y) return 0;
  }
  return 1;
}

/* Fill `result` (a tuple of None) with the first value of each of `views` found in the
 * serialized pairs `data`. */
static int pick_values(const char *data, size_t size, abi_view_t *views, PyObject *result) {
  Py_ssize_t wanted = PyTuple_GET_SIZE(result);
  uint32_t count = 0;
  if (size >= 4) memcpy(&count, data, 4);
  if (size < 4 || (size_t)count > (size - 4) / 8) return 0; /* nothing (or garbage): none */
  const char *cursor = data + 4 + 8 * (size_t)count, *end = data + size;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t key_size, value_size;
    memcpy(&key_size, data + 4 + 8 * (size_t)i, 4);
    memcpy(&value_size, data + 8 + 8 * (size_t)i, 4);
    if ((size_t)(end - cursor) < (size_t)key_size + value_size + 2) break;
    const char *key = cursor, *value = cursor + key_size + 1;
    cursor = value + value_size + 1;
    for (Py_ssize_t j = 0; j < wanted; j++) {
      if (PyTuple_GET_ITEM(result, j) != Py_None || views[j].size != (Py_ssize_t)key_size ||
          !same_name(key, views[j].data, key_size))
        continue;
      PyObject *text = abi_text(value, value_size);
      if (text == NULL) return -1;
      Py_SETREF(((PyTupleObject *)result)->ob_item[j], text);
    }
  }
  return 0;
}

/* The first value of each of `names` (None when absent) with one host call. */
PyObject *abi_get_header_many(uint32_t map, PyObject *const *names, Py_ssize_t count) {
  PyObject *result = PyTuple_New(count);
  abi_view_t few[8]; /* the usual case: no allocation for the views */
  abi_view_t *views = count <= 8 ? few : PyMem_Calloc((size_t)count, sizeof(abi_view_t));
  Py_ssize_t viewed = 0;
  char *data = NULL;
  size_t size = 0;
  if (result == NULL || views == NULL) goto fail;
  for (Py_ssize_t j = 0; j < count; j++) PyTuple_SET_ITEM(result, j, Py_NewRef(Py_None));
  for (; viewed < count; viewed++)
    if (abi_view(names[viewed], &views[viewed]) < 0) goto fail;
  proxy_status_t status = proxy_get_header_map_pairs(map, &data, &size);
  if (status != PROXY_OK && status != PROXY_NOT_FOUND) {
    abi_raise_status("get_headers", status);
    goto fail;
  }
  if (status == PROXY_OK && pick_values(data, size, views, result) < 0) goto fail;
  free(data);
  for (Py_ssize_t j = 0; j < viewed; j++) abi_view_release(&views[j]);
  if (views != few) PyMem_Free(views);
  return result;
fail:
  free(data);
  for (Py_ssize_t j = 0; j < viewed; j++) abi_view_release(&views[j]);
  if (views != few) PyMem_Free(views);
  Py_XDECREF(result);
  if (!PyErr_Occurred()) PyErr_NoMemory();
  return NULL;
}

static PyObject *header_map_get_many(header_map_t *self, PyObject *const *args,
                                     Py_ssize_t nargs) {
  return abi_get_header_many((uint32_t)self->map, args, nargs);
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
    {"get_many", (PyCFunction)(void (*)(void))header_map_get_many, METH_FASTCALL,
     "get_many(*names): the first value of each name (None when absent), in one host call"},
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

/* ---- StreamBase ----------------------------------------------------------------------- */

const char *const abi_skippable_names[ABI_SKIPPABLE_COUNT] = {
    "on_request_body", "on_request_trailers", "on_response_body", "on_response_trailers",
    "on_log", "on_done", "on_request_headers", "on_response_headers",
};

static int stream_init(abi_stream_t *self, PyObject *args, PyObject *kwargs) {
  static char *names[] = {"context_id", "root", NULL};
  unsigned int id;
  PyObject *root;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "IO", names, &id, &root)) return -1;
  self->context_id = id;
  Py_XSETREF(self->root, Py_NewRef(root));
  return 0;
}

static int stream_traverse(abi_stream_t *self, visitproc visit, void *arg) {
  Py_VISIT(self->root);
  return 0;
}

static int stream_clear(abi_stream_t *self) {
  Py_CLEAR(self->root);
  return 0;
}

static void stream_dealloc(abi_stream_t *self) {
  PyObject_GC_UnTrack(self);
  Py_CLEAR(self->root);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *stream_skip_callbacks(abi_stream_t *self, PyObject *const *args,
                                       Py_ssize_t nargs) {
  uint32_t bits = nargs == 0 ? ABI_SKIP_ALL : 0;
  for (Py_ssize_t i = 0; i < nargs; i++) {
    int bit = -1;
    for (int k = 0; PyUnicode_Check(args[i]) && k < ABI_SKIPPABLE_COUNT && bit < 0; k++)
      if (PyUnicode_CompareWithASCIIString(args[i], abi_skippable_names[k]) == 0) bit = k;
    if (bit < 0) {
      PyErr_Format(PyExc_ValueError, "skip_callbacks(): %R is not a stream callback that can "
                   "be skipped", args[i]);
      return NULL;
    }
    bits |= 1u << bit;
  }
  self->skipped |= bits;
  Py_RETURN_NONE;
}

static PyMethodDef stream_methods[] = {
    {"skip_callbacks", (PyCFunction)(void (*)(void))stream_skip_callbacks, METH_FASTCALL,
     "skip_callbacks(*names): this stream needs none of these callbacks any more"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef stream_members[] = {
    {"context_id", T_UINT, offsetof(abi_stream_t, context_id), 0, "the stream's context id"},
    {"root", T_OBJECT_EX, offsetof(abi_stream_t, root), 0, "the plugin's root context"},
    {"_skipped", T_UINT, offsetof(abi_stream_t, skipped), 0, "skipped callbacks (bits)"},
    {NULL, 0, 0, 0, NULL},
};

PyTypeObject abi_stream_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_proxy_wasm_abi.StreamBase",
    .tp_basicsize = sizeof(abi_stream_t),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The C part of proxy_wasm.HttpContext: context_id, root, skipped callbacks.",
    .tp_methods = stream_methods,
    .tp_members = stream_members,
    .tp_init = (initproc)stream_init,
    .tp_traverse = (traverseproc)stream_traverse,
    .tp_clear = (inquiry)stream_clear,
    .tp_dealloc = (destructor)stream_dealloc,
};

/* ---- StreamTable ---------------------------------------------------------------------- */

/* A slot is empty (context NULL, id 0), a tombstone (context NULL, id != 0) or used. */
typedef struct {
  uint32_t id;
  PyObject *context;
} table_slot_t;

typedef struct {
  PyObject_HEAD
  table_slot_t *slots;
  size_t capacity; /* a power of two */
  size_t used, tombstones;
} stream_table_t;

enum { TABLE_MIN_CAPACITY = 64 };

static size_t table_home(const stream_table_t *table, uint32_t id) {
  return (size_t)(id * 2654435761u) & (table->capacity - 1); /* Knuth's multiplicative hash */
}

/* The slot holding `id`, or NULL. */
static table_slot_t *table_find(stream_table_t *table, uint32_t id) {
  if (table->capacity == 0 || id == 0) return NULL;
  for (size_t at = table_home(table, id);; at = (at + 1) & (table->capacity - 1)) {
    table_slot_t *slot = &table->slots[at];
    if (slot->context == NULL && slot->id == 0) return NULL;
    if (slot->context != NULL && slot->id == id) return slot;
  }
}

static int table_resize(stream_table_t *table, size_t capacity) {
  table_slot_t *slots = PyMem_Calloc(capacity, sizeof(table_slot_t));
  if (slots == NULL) { PyErr_NoMemory(); return -1; }
  table_slot_t *old = table->slots;
  size_t old_capacity = table->capacity;
  table->slots = slots;
  table->capacity = capacity;
  table->tombstones = 0;
  for (size_t i = 0; i < old_capacity; i++) {
    if (old[i].context == NULL) continue;
    size_t at = table_home(table, old[i].id);
    while (slots[at].context != NULL) at = (at + 1) & (capacity - 1);
    slots[at] = old[i];
  }
  PyMem_Free(old);
  return 0;
}

PyObject *abi_table_get(PyObject *table, uint32_t id) {
  table_slot_t *slot = table_find((stream_table_t *)table, id);
  return slot ? slot->context : NULL;
}

int abi_table_set(PyObject *object, uint32_t id, PyObject *context) {
  stream_table_t *table = (stream_table_t *)object;
  table_slot_t *slot = table_find(table, id);
  if (slot != NULL) {
    Py_SETREF(slot->context, Py_NewRef(context));
    return 0;
  }
  if (id == 0) {
    PyErr_SetString(PyExc_KeyError, "context id 0");
    return -1;
  }
  if ((table->used + table->tombstones + 1) * 4 > table->capacity * 3) {
    size_t capacity = TABLE_MIN_CAPACITY;
    while (capacity < (table->used + 1) * 4) capacity *= 2;
    if (table_resize(table, capacity) < 0) return -1;
  }
  size_t at = table_home(table, id);
  while (table->slots[at].context != NULL) at = (at + 1) & (table->capacity - 1);
  if (table->slots[at].id != 0) table->tombstones--; /* reusing a tombstone */
  table->slots[at].id = id;
  table->slots[at].context = Py_NewRef(context);
  table->used++;
  return 0;
}

PyObject *abi_table_pop(PyObject *object, uint32_t id) {
  stream_table_t *table = (stream_table_t *)object;
  table_slot_t *slot = table_find(table, id);
  if (slot == NULL) return NULL;
  PyObject *context = slot->context;
  slot->context = NULL; /* a tombstone: id stays non-zero */
  table->used--;
  table->tombstones++;
  return context;
}

/* A Python int key as an id; -1 (no exception) when it cannot be one. */
static int table_key(PyObject *key, uint32_t *id) {
  if (!PyLong_Check(key)) return -1;
  unsigned long value = PyLong_AsUnsignedLong(key);
  if (PyErr_Occurred()) { PyErr_Clear(); return -1; }
  if (value == 0 || value > 0xFFFFFFFFul) return -1;
  *id = (uint32_t)value;
  return 0;
}

static Py_ssize_t table_length(stream_table_t *table) { return (Py_ssize_t)table->used; }

static PyObject *table_subscript(stream_table_t *table, PyObject *key) {
  uint32_t id;
  PyObject *context = table_key(key, &id) == 0 ? abi_table_get((PyObject *)table, id) : NULL;
  if (context == NULL) { PyErr_SetObject(PyExc_KeyError, key); return NULL; }
  return Py_NewRef(context);
}

static int table_assign(stream_table_t *table, PyObject *key, PyObject *value) {
  uint32_t id;
  if (table_key(key, &id) < 0) {
    if (value != NULL) {
      PyErr_SetString(PyExc_TypeError, "StreamTable keys are context ids (1 to 2**32-1)");
      return -1;
    }
    PyErr_SetObject(PyExc_KeyError, key);
    return -1;
  }
  if (value != NULL) return abi_table_set((PyObject *)table, id, value);
  PyObject *context = abi_table_pop((PyObject *)table, id);
  if (context == NULL) { PyErr_SetObject(PyExc_KeyError, key); return -1; }
  Py_DECREF(context);
  return 0;
}

static int table_contains(stream_table_t *table, PyObject *key) {
  uint32_t id;
  return table_key(key, &id) == 0 && abi_table_get((PyObject *)table, id) != NULL;
}

static PyObject *table_get(stream_table_t *table, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs < 1 || nargs > 2) {
    PyErr_Format(PyExc_TypeError, "get() takes 1 or 2 arguments (%zd given)", nargs);
    return NULL;
  }
  uint32_t id;
  PyObject *context = table_key(args[0], &id) == 0 ? abi_table_get((PyObject *)table, id) : NULL;
  return Py_NewRef(context ? context : nargs == 2 ? args[1] : Py_None);
}

static PyObject *table_pop(stream_table_t *table, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs < 1 || nargs > 2) {
    PyErr_Format(PyExc_TypeError, "pop() takes 1 or 2 arguments (%zd given)", nargs);
    return NULL;
  }
  uint32_t id;
  PyObject *context = table_key(args[0], &id) == 0 ? abi_table_pop((PyObject *)table, id) : NULL;
  if (context != NULL) return context;
  if (nargs == 2) return Py_NewRef(args[1]);
  PyErr_SetObject(PyExc_KeyError, args[0]);
  return NULL;
}

static int table_traverse(stream_table_t *table, visitproc visit, void *arg) {
  for (size_t i = 0; i < table->capacity; i++) Py_VISIT(table->slots[i].context);
  return 0;
}

static int table_clear(stream_table_t *table) {
  for (size_t i = 0; i < table->capacity; i++) Py_CLEAR(table->slots[i].context);
  table->used = 0;
  return 0;
}

static void table_dealloc(stream_table_t *table) {
  PyObject_GC_UnTrack(table);
  table_clear(table);
  PyMem_Free(table->slots);
  Py_TYPE(table)->tp_free((PyObject *)table);
}

static PyMethodDef table_methods[] = {
    {"get", (PyCFunction)(void (*)(void))table_get, METH_FASTCALL,
     "get(id, default=None)"},
    {"pop", (PyCFunction)(void (*)(void))table_pop, METH_FASTCALL, "pop(id[, default])"},
    {NULL, NULL, 0, NULL},
};

static PyMappingMethods table_mapping = {
    .mp_length = (lenfunc)table_length,
    .mp_subscript = (binaryfunc)table_subscript,
    .mp_ass_subscript = (objobjargproc)table_assign,
};

static PySequenceMethods table_sequence = {.sq_contains = (objobjproc)table_contains};

PyTypeObject abi_table_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_proxy_wasm_abi.StreamTable",
    .tp_basicsize = sizeof(stream_table_t),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "context id -> stream context (what _dispatch._streams is inside a module)",
    .tp_methods = table_methods,
    .tp_as_mapping = &table_mapping,
    .tp_as_sequence = &table_sequence,
    .tp_new = PyType_GenericNew,
    .tp_traverse = (traverseproc)table_traverse,
    .tp_clear = (inquiry)table_clear,
    .tp_dealloc = (destructor)table_dealloc,
};

int abi_add_header_map_type(PyObject *module) {
  /* object's tp_new: a Python subclass's instances then get inline attribute values. */
  abi_stream_type.tp_new = PyBaseObject_Type.tp_new;
  if (PyType_Ready(&header_map_type) < 0 || PyType_Ready(&abi_stream_type) < 0 ||
      PyType_Ready(&abi_table_type) < 0)
    return -1;
  if (PyModule_AddObjectRef(module, "StreamBase", (PyObject *)&abi_stream_type) < 0 ||
      PyModule_AddObjectRef(module, "StreamTable", (PyObject *)&abi_table_type) < 0)
    return -1;
  return PyModule_AddObjectRef(module, "HeaderMapBase", (PyObject *)&header_map_type);
}
