/* The proxy-wasm exports: pre-initialization, the allocator and every proxy_on_* callback.
 *
 * meshwasm_initialize() runs once, at build time, inside the snapshotter: it starts CPython
 * from frozen modules, imports the filter and caches the dispatcher's callbacks.  The memory
 * it leaves behind becomes the module's initial memory, so Envoy never runs Python start-up.
 * Each proxy_on_* export forwards its integer arguments to proxy_wasm._dispatch.
 */
#include <Python.h>
#include <stdlib.h>
#include <string.h>

#include "abi_internal.h"
#include "frozen_blob.h"
#include "vm_limits.h"

#define EXPORT(name) __attribute__((export_name(#name)))

/* CPython's own tables of frozen modules (Python/frozen.c). */
extern const struct _frozen *_PyImport_FrozenBootstrap;
extern const struct _frozen *_PyImport_FrozenStdlib;
extern const struct _frozen *_PyImport_FrozenTest;
/* Provided by wasi_shim.c. */
extern int meshwasm_runtime_started;
void meshwasm_flush_stdio(void);

enum callback {
  CB_CONTEXT_CREATE, CB_VM_START, CB_CONFIGURE, CB_REQUEST_HEADERS, CB_REQUEST_BODY,
  CB_REQUEST_TRAILERS, CB_RESPONSE_HEADERS, CB_RESPONSE_BODY, CB_RESPONSE_TRAILERS, CB_DONE,
  CB_LOG, CB_DELETE, CB_TICK, CB_QUEUE_READY, CB_HTTP_CALL_RESPONSE,
  CB_GRPC_RECEIVE_INITIAL_METADATA, CB_GRPC_RECEIVE, CB_GRPC_RECEIVE_TRAILING_METADATA,
  CB_GRPC_CLOSE, CB_START_RUNTIME, CB_COUNT
};

static const char *const callback_names[CB_COUNT] = {
    "on_context_create", "on_vm_start", "on_configure", "on_request_headers",
    "on_request_body", "on_request_trailers", "on_response_headers", "on_response_body",
    "on_response_trailers", "on_done", "on_log", "on_delete", "on_tick", "on_queue_ready",
    "on_http_call_response", "on_grpc_receive_initial_metadata", "on_grpc_receive",
    "on_grpc_receive_trailing_metadata", "on_grpc_close", "start_runtime",
};

static PyObject *callbacks[CB_COUNT];

/* Removed code (builder/prune.py, builder/trim.py) reached: each stub calls
 * meshwasm_compiler_unavailable, which counts here.  Normally the RuntimeError it raises
 * reaches the filter's policy in Python; when it was swallowed on the way, or the policy's
 * own Python hit removed code too, the policy is applied here, without Python. */
static unsigned stub_hits = 0;
static unsigned stub_hits_mark = 0; /* stub_hits when the current callback began */
/* Code that loops until a removed function answers differently would spin forever on the
 * stubs' zero: past this many hits in one callback the VM traps instead, which Envoy turns
 * into the plugin's failure policy (fail_open, FAIL_RELOAD) without a stuck worker. */
#define STUB_HITS_BEFORE_TRAP 10000u

/* Stream callbacks go straight to the context object's method: _dispatch._streams maps
 * context ids to contexts, and only a raise or a result that is no int goes back to Python
 * (_dispatch.fail_stream, .wrong_result, or for on_log/on_done ._log_exception): one
 * interpreter entry per callback.  The rules are _dispatch's (docs/harness-semantics.md,
 * "Dispatch"), which source mode runs as Python: every decision off the fast path is made
 * there, and which callbacks only log a raise is read from _dispatch.LOGGED_CALLBACKS. */
static PyObject *streams;       /* _dispatch._streams (a StreamTable, never rebound) */
static PyObject *fail_stream;   /* _dispatch.fail_stream(context, where, error) -> action */
static PyObject *log_exception; /* _dispatch._log_exception(where, error) */
static PyObject *creation_failed; /* _dispatch.creation_failed(id, error) */
static PyObject *fail_uncreated;  /* _dispatch.fail_uncreated(id, where) -> action */
static PyObject *wrong_result;    /* _dispatch.wrong_result(context, where, result) -> action */
/* The stream callbacks whose raise is only logged (_dispatch.LOGGED_CALLBACKS): on_log and
 * on_done, whose result is ignored too. */
static char logged_only[CB_COUNT];
static PyObject *method_names[CB_COUNT];
/* The filter class's own functions for the stream callbacks (NULL: look the method up per
 * call, e.g. a staticmethod): calling one skips the per-call method look-up. */
static PyObject *stream_functions[CB_COUNT];

/* Stream contexts are created and dropped here without entering _dispatch: a class that keeps
 * HttpContext's __init__ without running Python at all, any other by calling the class. */
static PyObject *roots;      /* _dispatch._roots */
static PyObject *http_class; /* the registered HttpContext subclass (a StreamBase) */
static int plain_init = 0;   /* http_class keeps HttpContext's __new__ and __init__ */
static int python_deletes = 1;

/* Callbacks the filter does not override (bits in the order of _dispatch.SKIPPABLE, as
 * StreamBase.skipped per stream): the default lets the stream continue, so the runtime
 * answers without entering Python. */
enum { SKIP_REQUEST_BODY = 1, SKIP_REQUEST_TRAILERS = 2, SKIP_RESPONSE_BODY = 4,
       SKIP_RESPONSE_TRAILERS = 8, SKIP_LOG = 16, SKIP_DONE = 32, SKIP_REQUEST_HEADERS = 64,
       SKIP_RESPONSE_HEADERS = 128 };
static unsigned long skip_mask = 0;

static uint32_t action_of(PyObject *result, enum callback which);

static void log_python_error(const char *where) {
  /* The dispatcher handles filter exceptions itself; reaching here means the dispatcher
   * or the interpreter failed.  Print the traceback (it goes to the proxy log). */
  fprintf(stderr, "meshwasm: unhandled Python error in %s\n", where);
  PyErr_Print();
  meshwasm_flush_stdio();
}

/* Call dispatcher callback `which` with up to 5 unsigned ints; return its int result. */
static uint32_t dispatch(enum callback which, int nargs, uint32_t a, uint32_t b, uint32_t c,
                         uint32_t d, uint32_t e) {
  PyObject *callable = callbacks[which];
  if (callable == NULL) return 0;
  stub_hits_mark = stub_hits;
  uint32_t values[5] = {a, b, c, d, e};
  PyObject *args[5];
  for (int i = 0; i < nargs; i++) {
    args[i] = PyLong_FromUnsignedLong(values[i]);
    if (args[i] == NULL) {
      for (int j = 0; j < i; j++) Py_DECREF(args[j]);
      log_python_error(callback_names[which]);
      return 0;
    }
  }
  PyObject *result = PyObject_Vectorcall(callable, args, (size_t)nargs, NULL);
  for (int i = 0; i < nargs; i++) Py_DECREF(args[i]);
  if (result == NULL) {
    log_python_error(callback_names[which]);
    return 0;
  }
  return action_of(result, which);
}

static uint32_t action_of(PyObject *result, enum callback which) {
  uint32_t value = 0;
  if (result != Py_None) {
    value = (uint32_t)PyLong_AsUnsignedLongMask(result);
    if (PyErr_Occurred()) log_python_error(callback_names[which]);
  }
  Py_DECREF(result);
  return value;
}

/* The exception being raised, with its traceback attached (a new reference; cleared). */
static PyObject *fetch_error(void) {
  PyObject *type, *error, *traceback;
  PyErr_Fetch(&type, &error, &traceback);
  PyErr_NormalizeException(&type, &error, &traceback);
  if (traceback != NULL && error != NULL) PyException_SetTraceback(error, traceback);
  Py_XDECREF(type);
  Py_XDECREF(traceback);
  return error;
}

/* The policy for a callback of `context` that raised: fail_stream for the stream callbacks,
 * a logged traceback only for on_log/on_done (as _dispatch does).  Returns the action. */
static uint32_t after_error(enum callback which, PyObject *context, uint32_t fallback,
                            int *handled) {
  PyObject *error = fetch_error();
  PyObject *result;
  if (logged_only[which]) {
    PyObject *args[2] = {method_names[which], error ? error : Py_None};
    result = PyObject_Vectorcall(log_exception, args, 2, NULL);
    Py_XDECREF(result);
    result = result ? PyLong_FromUnsignedLong(fallback) : NULL;
  } else {
    PyObject *args[3] = {context, method_names[which], error ? error : Py_None};
    result = PyObject_Vectorcall(fail_stream, args, 3, NULL);
  }
  Py_XDECREF(error);
  *handled = result != NULL;
  if (result == NULL) {
    log_python_error(callback_names[which]);
    return fallback;
  }
  return action_of(result, which);
}

static int policy_fail_open = 0;
static uint32_t policy_error_status = 500;

static const char removed_code_reached[] =
    "meshwasm: this request reached code removed from the module (by --trim-to, or "
    "compiling source at request time); failing it by the filter's policy";

/* Apply the filter's policy to the stream whose callback `which` runs, without Python;
 * `why` (may be NULL: already logged) goes to the log first. */
static uint32_t fail_without_python(enum callback which, uint32_t fallback, const char *why) {
  PyErr_Clear();
  if (why != NULL) proxy_log(PROXY_LOG_ERROR, why, strlen(why));
  if (policy_fail_open || logged_only[which]) return fallback;
  /* Pause only when the local reply was taken (it ends the stream); a paused stream with no
   * reply would hang until the idle timeout. */
  if (proxy_send_local_response(policy_error_status, NULL, 0, NULL, 0, NULL, 0, -1) != 0)
    return fallback;
  return 1;
}

/* The stream whose callback ran last: a stream's callbacks mostly come one after another,
 * so this saves an int object and a dict look-up per callback.  A strong reference, dropped
 * when that stream is deleted. */
static uint32_t last_id = 0;
static PyObject *last_context = NULL;

static void forget_last(uint32_t id) {
  if (last_context != NULL && last_id == id) Py_CLEAR(last_context);
}

/* The context of stream `id` (borrowed), or NULL when there is none. */
static PyObject *stream_context(uint32_t id, enum callback which) {
  if (last_context != NULL && last_id == id) return last_context;
  PyObject *context = abi_table_get(streams, id); /* borrowed */
  if (context == NULL) return NULL;
  Py_XSETREF(last_context, Py_NewRef(context));
  last_id = id;
  return context;
}

/* _dispatch.fail_uncreated(id, where): the action for a stream with no context object. */
static uint32_t policy_for_uncreated(enum callback which, uint32_t id) {
  PyObject *key = PyLong_FromUnsignedLong(id);
  PyObject *args[2] = {key, method_names[which]};
  PyObject *result = key ? PyObject_Vectorcall(fail_uncreated, args, 2, NULL) : NULL;
  Py_XDECREF(key);
  if (result == NULL) {
    log_python_error(callback_names[which]);
    return 0;
  }
  return action_of(result, which);
}

/* The action a stream callback's `result` asks for (the reference is taken): an int masked
 * to u32, None 0.  Anything else is no int (PyLong_AsUnsignedLongMask fails): the filter's
 * error, _dispatch.wrong_result applies the policy; on_log/on_done's result is ignored.
 * Checked only once the conversion failed: the fast path costs what it did. */
static uint32_t stream_action_of(PyObject *result, enum callback which, PyObject *context,
                                 uint32_t fallback) {
  uint32_t value = 0;
  if (result != Py_None) {
    value = (uint32_t)PyLong_AsUnsignedLongMask(result);
    if (value == 0xFFFFFFFFu && PyErr_Occurred()) {
      PyErr_Clear();
      PyObject *answer = NULL;
      if (!logged_only[which]) {
        PyObject *args[3] = {context, method_names[which], result};
        answer = PyObject_Vectorcall(wrong_result, args, 3, NULL);
        if (answer == NULL) log_python_error(callback_names[which]);
      }
      Py_DECREF(result);
      return answer != NULL ? action_of(answer, which) : fallback;
    }
  }
  Py_DECREF(result);
  return value;
}

/* Call context.<callback>(*args) for stream `id` (nargs 0 to 2 of `size`, `flag`), unless
 * the stream skipped it (`bit`); `fallback` is the answer then and for a missing stream. */
static uint32_t stream_dispatch(enum callback which, uint32_t bit, uint32_t id, size_t nargs,
                                uint32_t size, PyObject *flag, uint32_t fallback) {
  PyObject *context = stream_context(id, which);
  if (context == NULL) /* no context: its constructor raised (the policy applies), or none */
    return logged_only[which] ? fallback : policy_for_uncreated(which, id);
  if (((abi_stream_t *)context)->skipped & bit) return fallback;
  Py_INCREF(context);
  limits_begin(callback_names[which], id, 0);
  unsigned hits = stub_hits_mark = stub_hits;
  PyObject *count = nargs > 0 ? PyLong_FromUnsignedLong(size) : NULL;
  PyObject *result = NULL;
  if (nargs == 0 || count != NULL) {
    PyObject *args[3] = {context, count, flag};
    PyObject *function = stream_functions[which];
    result = function != NULL ? PyObject_Vectorcall(function, args, 1 + nargs, NULL)
                              : PyObject_VectorcallMethod(method_names[which], args, 1 + nargs,
                                                          NULL);
    Py_XDECREF(count);
  }
  int handled = 1;
  uint32_t action = result != NULL ? stream_action_of(result, which, context, fallback)
                                   : after_error(which, context, fallback, &handled);
  if (stub_hits != hits && (result != NULL || !handled))
    action = fail_without_python(which, fallback, removed_code_reached);
  if (limits_end(id, 1)) action = fail_without_python(which, fallback, NULL);
  Py_DECREF(context);
  return which == CB_DONE ? fallback : action;
}

/* logged_only[] from _dispatch.LOGGED_CALLBACKS (names of callbacks). */
static int load_logged_only(PyObject *dispatcher) {
  PyObject *names = PyObject_GetAttrString(dispatcher, "LOGGED_CALLBACKS");
  if (names == NULL || !PyTuple_Check(names)) {
    Py_XDECREF(names);
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "LOGGED_CALLBACKS is no tuple");
    return -1;
  }
  for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
    const char *name = PyUnicode_AsUTF8(PyTuple_GET_ITEM(names, i));
    int found = 0;
    for (int which = 0; name != NULL && which < CB_COUNT; which++)
      if (strcmp(name, callback_names[which]) == 0) logged_only[which] = found = 1;
    if (!found) {
      if (!PyErr_Occurred())
        PyErr_Format(PyExc_ValueError, "LOGGED_CALLBACKS: no callback %s", name);
      Py_DECREF(names);
      return -1;
    }
  }
  Py_DECREF(names);
  return 0;
}

static int load_fast_paths(PyObject *dispatcher) {
  roots = PyObject_GetAttrString(dispatcher, "_roots");
  PyObject *plain = PyObject_GetAttrString(dispatcher, "_plain_init");
  PyObject *calls_on_delete = PyObject_GetAttrString(dispatcher, "_calls_on_delete");
  PyObject *active = PyObject_GetAttrString(dispatcher, "_active");
  int ok = roots && plain && calls_on_delete && active &&
           PyDict_Check(roots);
  if (ok) {
    http_class = PyObject_GetAttrString(active, "http");
    ok = http_class != NULL && PyType_Check(http_class) &&
         PyType_IsSubtype((PyTypeObject *)http_class, &abi_stream_type);
  }
  if (ok) {
    PyObject *fail_open = PyObject_GetAttrString(active, "fail_open");
    PyObject *error_status = PyObject_GetAttrString(active, "error_status");
    ok = fail_open != NULL && error_status != NULL;
    if (ok) {
      policy_fail_open = PyObject_IsTrue(fail_open);
      policy_error_status = (uint32_t)PyLong_AsUnsignedLong(error_status);
    }
    Py_XDECREF(fail_open);
    Py_XDECREF(error_status);
  }
  if (ok) ok = limits_load(active) == 0;
  if (ok) {
    plain_init = PyObject_IsTrue(plain);
    python_deletes = PyObject_IsTrue(calls_on_delete);
    for (int i = CB_REQUEST_HEADERS; i <= CB_LOG; i++) {
      PyObject *function = PyObject_GetAttr(http_class, method_names[i]);
      if (function != NULL && PyFunction_Check(function)) stream_functions[i] = function;
      else Py_XDECREF(function);
      PyErr_Clear();
    }
  }
  Py_XDECREF(plain);
  Py_XDECREF(calls_on_delete);
  Py_XDECREF(active);
  if (!ok && !PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "unexpected _dispatch state");
  return ok ? 0 : -1;
}

/* A new context of the filter's class: without Python when it keeps HttpContext's __init__. */
static PyObject *new_stream(uint32_t id, PyObject *root) {
  if (!plain_init) {
    PyObject *key = PyLong_FromUnsignedLong(id);
    if (key == NULL) return NULL;
    PyObject *args[2] = {key, root};
    PyObject *context = PyObject_Vectorcall(http_class, args, 2, NULL);
    Py_DECREF(key);
    return context;
  }
  static PyObject *no_args = NULL;
  if (no_args == NULL && (no_args = PyTuple_New(0)) == NULL) return NULL;
  PyObject *context = ((PyTypeObject *)http_class)->tp_new((PyTypeObject *)http_class,
                                                           no_args, NULL);
  if (context != NULL) {
    ((abi_stream_t *)context)->context_id = id;
    ((abi_stream_t *)context)->root = Py_NewRef(root);
  }
  return context;
}

/* The root context `id` (borrowed), or NULL; the last one found is kept (there is one per
 * plugin, so nearly always the same). */
static uint32_t last_root_id = 0;
static PyObject *last_root = NULL;

static PyObject *root_context(uint32_t id) {
  if (last_root != NULL && last_root_id == id) return last_root;
  PyObject *key = PyLong_FromUnsignedLong(id);
  PyObject *root = key ? PyDict_GetItemWithError(roots, key) : NULL;
  Py_XDECREF(key);
  if (root == NULL) { PyErr_Clear(); return NULL; }
  Py_XSETREF(last_root, Py_NewRef(root));
  last_root_id = id;
  return root;
}

/* Create stream context `id` under root `parent`; 0 if done, -1 to let Python do it. */
static int create_stream(uint32_t id, uint32_t parent) {
  if (parent == 0) return -1;
  PyObject *root = root_context(parent);
  if (root == NULL) return -1; /* Python logs the missing root */
  PyObject *context = new_stream(id, root);
  if (context != NULL && abi_table_set(streams, id, context) == 0) {
    Py_XSETREF(last_context, Py_NewRef(context)); /* its callbacks come next */
    last_id = id;
  } else {
    PyObject *error = fetch_error(); /* as _dispatch.on_context_create: log, no stream */
    PyObject *key = PyLong_FromUnsignedLong(id);
    PyObject *args[2] = {key, error ? error : Py_None};
    PyObject *result = key ? PyObject_Vectorcall(creation_failed, args, 2, NULL) : NULL;
    if (result == NULL) log_python_error("on_context_create");
    Py_XDECREF(result);
    Py_XDECREF(key);
    Py_XDECREF(error);
  }
  Py_XDECREF(context);
  return 0;
}

static int start_python(void) {
  PyImport_FrozenModules = meshwasm_frozen_modules;

  PyConfig config;
  PyConfig_InitIsolatedConfig(&config);
  config.site_import = 0;
  config.install_signal_handlers = 0;
  config.write_bytecode = 0;
  config.buffered_stdio = 0;
  config.pathconfig_warnings = 0;
  config.use_frozen_modules = 1;
  config.parse_argv = 0;
  config.faulthandler = 0;
  /* A fixed seed keeps the snapshot byte-identical across builds of the same inputs. */
  config.use_hash_seed = 1;
  config.hash_seed = 0;
  config.module_search_paths_set = 1; /* no filesystem search: everything is frozen */
  PyStatus status = PyConfig_SetString(&config, &config.program_name, L"meshwasm");
  if (!PyStatus_Exception(status))
    status = PyConfig_SetString(&config, &config.home, L"/meshwasm");
  if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status)) {
    fprintf(stderr, "meshwasm: Python failed to start: %s\n",
            status.err_msg ? status.err_msg : "(no message)");
    return -1;
  }
  return 0;
}

static int load_filter(void) {
  for (const char *const *name = meshwasm_preload_modules; *name; name++) {
    PyObject *module = PyImport_ImportModule(*name);
    if (module == NULL) return -1;
    Py_DECREF(module);
  }
  PyObject *dispatcher = PyImport_ImportModule("proxy_wasm._dispatch");
  if (dispatcher == NULL) return -1;
  PyObject *filter = PyImport_ImportModule(meshwasm_filter_module);
  if (filter == NULL) { Py_DECREF(dispatcher); return -1; }
  Py_DECREF(filter);
  PyObject *ready = PyObject_CallMethod(dispatcher, "check_registered", "s",
                                        meshwasm_filter_module);
  if (ready == NULL) { Py_DECREF(dispatcher); return -1; }
  skip_mask = PyLong_AsUnsignedLong(ready);
  Py_DECREF(ready);
  if (PyErr_Occurred()) { Py_DECREF(dispatcher); return -1; }
  for (int i = 0; i < CB_COUNT; i++) {
    callbacks[i] = PyObject_GetAttrString(dispatcher, callback_names[i]);
    if (callbacks[i] == NULL) { Py_DECREF(dispatcher); return -1; }
    method_names[i] = PyUnicode_InternFromString(callback_names[i]);
    if (method_names[i] == NULL) { Py_DECREF(dispatcher); return -1; }
  }
  if (load_fast_paths(dispatcher) < 0) { Py_DECREF(dispatcher); return -1; }
  streams = PyObject_GetAttrString(dispatcher, "_streams");
  fail_stream = PyObject_GetAttrString(dispatcher, "fail_stream");
  log_exception = PyObject_GetAttrString(dispatcher, "_log_exception");
  creation_failed = PyObject_GetAttrString(dispatcher, "creation_failed");
  fail_uncreated = PyObject_GetAttrString(dispatcher, "fail_uncreated");
  wrong_result = PyObject_GetAttrString(dispatcher, "wrong_result");
  if (streams == NULL || fail_stream == NULL || log_exception == NULL ||
      creation_failed == NULL || fail_uncreated == NULL || wrong_result == NULL ||
      load_logged_only(dispatcher) < 0 || !PyObject_TypeCheck(streams, &abi_table_type)) {
    if (!PyErr_Occurred())
      PyErr_SetString(PyExc_TypeError, "_dispatch._streams is not a StreamTable");
    Py_DECREF(dispatcher);
    return -1;
  }
  Py_DECREF(dispatcher);
  return 0;
}

/* The message of the RuntimeError raised by meshwasm_compiler_unavailable (made at start-up). */
static PyObject *unavailable_message;
static int raising_unavailable;

/* The marshalled code of a module that is already imported is never read again, and zero
 * bytes are not stored in the module's data (snapshot.py): dropping it makes every built
 * module smaller.  A later import of the same name (after `del sys.modules[name]`) finds the
 * entry excluded and raises ImportError, as for any frozen module CPython leaves out. */
/* CPython's own frozen modules (os, site, importlib's bootstrap…) are deep-frozen objects in
 * static data; after the snapshot the build drops those nothing live refers to
 * (builder/deepfreeze.py).  The ones the filter's code imports were imported at start-up
 * (meshwasm_preload_modules), so CPython's tables are not needed any more: emptied, a later
 * import of one of their names raises ImportError instead of reaching dropped code. */
static const struct _frozen no_frozen_modules[] = {{NULL, NULL, 0, 0, NULL}};
static void drop_cpython_frozen_tables(void) {
  _PyImport_FrozenBootstrap = no_frozen_modules;
  _PyImport_FrozenStdlib = no_frozen_modules;
  _PyImport_FrozenTest = no_frozen_modules;
}

static void drop_imported_frozen_code(void) {
  PyObject *modules = PyImport_GetModuleDict();
  for (struct _frozen *entry = (struct _frozen *)meshwasm_frozen_modules; entry->name; entry++) {
    if (entry->code == NULL || PyDict_GetItemString(modules, entry->name) == NULL) continue;
    memset((void *)entry->code, 0, (size_t)entry->size);
    entry->code = NULL;
    entry->size = 0;
  }
}

/* `blob`: the filter's frozen modules (frozen_blob.c), written into memory by the
 * snapshotter. */
EXPORT(meshwasm_initialize) int meshwasm_initialize(const unsigned char *blob, uint32_t size) {
  if (meshwasm_read_frozen_blob(blob, size) < 0) {
    fprintf(stderr, "meshwasm: the build's blob of frozen modules is malformed\n");
    meshwasm_flush_stdio();
    return 3;
  }
  if (start_python() < 0) { meshwasm_flush_stdio(); return 1; }
  if (load_filter() < 0) {
    log_python_error("initialization");
    return 2;
  }
  unavailable_message = PyUnicode_FromString(
      "compiling Python source (compile/exec/eval of a string), and with `meshwasm build "
      "--trim-to` code the traffic never ran, is not available inside a meshwasm module; "
      "all code is compiled at build time");
  if (unavailable_message == NULL) { log_python_error("initialization"); return 2; }
  PyGC_Collect();
  drop_imported_frozen_code();
  drop_cpython_frozen_tables();
  meshwasm_flush_stdio();
  return 0;
}

/* The stream callbacks the filter does not override (bits of _dispatch.SKIPPABLE): read by
 * the build after start-up, which then drops their exports (builder/callbacks.py). */
EXPORT(meshwasm_skip_mask) uint32_t meshwasm_skip_mask(void) { return (uint32_t)skip_mask; }

/* Pruned functions (the parser and compiler, see builder/prune.py) and functions trimmed by
 * --trim-to (builder/trim.py) call this instead of running.  Exported only so the linker keeps
 * it; the prune stage removes the export.  The message is made at start-up and nothing here
 * may call a function that could itself be a stub: raising must not recurse. */
EXPORT(meshwasm_compiler_unavailable) void meshwasm_compiler_unavailable(void) {
  if (++stub_hits - stub_hits_mark > STUB_HITS_BEFORE_TRAP) {
    static const char message[] =
        "meshwasm: removed code was reached over and over in one callback; stopping the VM";
    proxy_log(PROXY_LOG_CRITICAL, message, sizeof(message) - 1);
    __builtin_trap();
  }
  if (raising_unavailable || unavailable_message == NULL || PyErr_Occurred()) return;
  raising_unavailable = 1;
  PyErr_SetObject(PyExc_RuntimeError, unavailable_message);
  raising_unavailable = 0;
}

EXPORT(proxy_abi_version_0_2_1) void proxy_abi_version_0_2_1(void) {}

EXPORT(proxy_on_memory_allocate) void *proxy_on_memory_allocate(size_t size) {
  return malloc(size);
}

/* The first callback of every VM: leave build-time mode (real clock and randomness). */
static void ensure_runtime_started(void) {
  if (meshwasm_runtime_started) return;
  meshwasm_runtime_started = 1;
  dispatch(CB_START_RUNTIME, 0, 0, 0, 0, 0, 0);
}

/* A callback that is not a stream's (or creates one): the limits around dispatch(). */
static uint32_t limited_dispatch(enum callback which, int nargs, uint32_t a, uint32_t b,
                                 uint32_t c, uint32_t d, uint32_t e) {
  limits_begin(callback_names[which], a, 0);
  uint32_t result = dispatch(which, nargs, a, b, c, d, e);
  limits_end(a, 0);
  return result;
}

EXPORT(proxy_on_context_create) void proxy_on_context_create(uint32_t id, uint32_t parent) {
  limits_begin(callback_names[CB_CONTEXT_CREATE], id, 0);
  ensure_runtime_started();
  if (create_stream(id, parent) != 0) dispatch(CB_CONTEXT_CREATE, 2, id, parent, 0, 0, 0);
  limits_end(id, 0);
}

EXPORT(proxy_on_vm_start) uint32_t proxy_on_vm_start(uint32_t root, uint32_t size) {
  return limited_dispatch(CB_VM_START, 2, root, size, 0, 0, 0);
}

EXPORT(proxy_on_configure) uint32_t proxy_on_configure(uint32_t root, uint32_t size) {
  return limited_dispatch(CB_CONFIGURE, 2, root, size, 0, 0, 0);
}

#define STREAM_CALLBACK3(export, which, skip)                                             \
  EXPORT(export) uint32_t export(uint32_t id, uint32_t size, uint32_t end_of_stream) {     \
    if (skip_mask & (skip)) return 0;                                                      \
    return stream_dispatch(which, skip, id, 2, size, end_of_stream ? Py_True : Py_False, 0); \
  }
#define STREAM_CALLBACK2(export, which, skip)                                             \
  EXPORT(export) uint32_t export(uint32_t id, uint32_t size) {                             \
    if (skip_mask & (skip)) return 0;                                                      \
    return stream_dispatch(which, skip, id, 1, size, NULL, 0);                             \
  }

STREAM_CALLBACK3(proxy_on_request_headers, CB_REQUEST_HEADERS, SKIP_REQUEST_HEADERS)
STREAM_CALLBACK3(proxy_on_request_body, CB_REQUEST_BODY, SKIP_REQUEST_BODY)
STREAM_CALLBACK2(proxy_on_request_trailers, CB_REQUEST_TRAILERS, SKIP_REQUEST_TRAILERS)
STREAM_CALLBACK3(proxy_on_response_headers, CB_RESPONSE_HEADERS, SKIP_RESPONSE_HEADERS)
STREAM_CALLBACK3(proxy_on_response_body, CB_RESPONSE_BODY, SKIP_RESPONSE_BODY)
STREAM_CALLBACK2(proxy_on_response_trailers, CB_RESPONSE_TRAILERS, SKIP_RESPONSE_TRAILERS)

/* A stream's on_done answers 1 (the stream may be destroyed) whatever the filter does; a
 * root context's (the plugin stops) is the filter's RootContext.on_done, in Python. */
EXPORT(proxy_on_done) uint32_t proxy_on_done(uint32_t id) {
  /* Streams first: finding one in the stream table allocates nothing, while the roots' dict
   * needs an int key (hundreds of instructions per request for a filter with on_done). */
  if (stream_context(id, CB_DONE) == NULL && root_context(id) != NULL)
    return limited_dispatch(CB_DONE, 1, id, 0, 0, 0, 0);
  if (skip_mask & SKIP_DONE) return 1;
  return stream_dispatch(CB_DONE, SKIP_DONE, id, 0, 0, NULL, 1);
}

EXPORT(proxy_on_log) void proxy_on_log(uint32_t id) {
  if (skip_mask & SKIP_LOG) return;
  stream_dispatch(CB_LOG, SKIP_LOG, id, 0, 0, NULL, 0);
}

EXPORT(proxy_on_delete) void proxy_on_delete(uint32_t id) {
  limits_begin(callback_names[CB_DELETE], id, 1);
  forget_last(id);
  if (last_root != NULL && last_root_id == id) Py_CLEAR(last_root);
  if (!python_deletes) {
    PyObject *context = abi_table_pop(streams, id);
    if (context != NULL) {
      Py_DECREF(context);
      limits_end(id, 0);
      return;
    }
    /* not a stream (a root context): Python handles it */
  }
  dispatch(CB_DELETE, 1, id, 0, 0, 0, 0);
  limits_end(id, 0);
}

EXPORT(proxy_on_tick) void proxy_on_tick(uint32_t root) {
  limited_dispatch(CB_TICK, 1, root, 0, 0, 0, 0);
}

EXPORT(proxy_on_queue_ready) void proxy_on_queue_ready(uint32_t root, uint32_t queue) {
  limited_dispatch(CB_QUEUE_READY, 2, root, queue, 0, 0, 0);
}

EXPORT(proxy_on_http_call_response)
void proxy_on_http_call_response(uint32_t id, uint32_t token, uint32_t headers,
                                 uint32_t body_size, uint32_t trailers) {
  limited_dispatch(CB_HTTP_CALL_RESPONSE, 5, id, token, headers, body_size, trailers);
}

/* gRPC answers: like http_call answers, to the root context that owns every call. */
#define GRPC_CALLBACK(export, which)                                                        \
  EXPORT(export) void export(uint32_t id, uint32_t token, uint32_t value) {                 \
    limited_dispatch(which, 3, id, token, value, 0, 0);                                     \
  }

GRPC_CALLBACK(proxy_on_grpc_receive_initial_metadata, CB_GRPC_RECEIVE_INITIAL_METADATA)
GRPC_CALLBACK(proxy_on_grpc_receive, CB_GRPC_RECEIVE)
GRPC_CALLBACK(proxy_on_grpc_receive_trailing_metadata, CB_GRPC_RECEIVE_TRAILING_METADATA)
GRPC_CALLBACK(proxy_on_grpc_close, CB_GRPC_CLOSE)
