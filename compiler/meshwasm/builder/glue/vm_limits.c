/* Limits a filter declares in register(): a step budget per callback and a memory ceiling
 * per VM (sdk/proxy_wasm/limits.py says what they mean to a filter author).
 *
 * Steps are counted by the interpreter itself, so the budget holds in Envoy, where the host
 * has no fuel: CPython's eval loop (toolchain/wasi/step_budget.patch) decrements
 * _PyMeshwasm_steps_left at every backward jump and call, and calls _PyMeshwasm_steps_spent
 * when it runs out.  The counter is handed the budget in chunks of STEP_CHUNK steps, so the
 * memory ceiling is also checked while a callback runs (a loop that allocates), not only
 * when it returns.  Wasm memory never shrinks: a VM past its ceiling stays past it, so it
 * asks to be replaced, by trapping once the request that crossed the ceiling is over.
 */
#include <Python.h>

#include "abi_internal.h"
#include "vm_limits.h"

extern Py_ssize_t _PyMeshwasm_steps_left; /* ceval.c, with step_budget.patch */

#define STEP_CHUNK 65536
#define PAGE_BYTES 65536u

static Py_ssize_t step_budget = 0;    /* register(max_callback_steps=); 0 until loaded */
static Py_ssize_t grace_steps = 0;    /* proxy_wasm.limits.GRACE_STEPS */
static Py_ssize_t steps_in_reserve;   /* of this callback's budget, not yet counted down */
static unsigned memory_ceiling_mb = 0;
static PyObject *limit_error = NULL;  /* proxy_wasm.LimitExceeded */
static const char *running = "";      /* the callback being run, for messages */

/* OFF: build time, or between callbacks (no limit); RUNNING: a callback within its budget;
 * GRACE: a limit was hit and the error policy runs on GRACE_STEPS. */
static enum { BUDGET_OFF, BUDGET_RUNNING, BUDGET_GRACE } state = BUDGET_OFF;

/* The VM passed its ceiling while serving `recycle_stream` (0: a root context callback). */
static int recycle_requested = 0;
static uint32_t recycle_stream = 0;

static unsigned memory_mb(void) {
  return (unsigned)(__builtin_wasm_memory_size(0) * (size_t)PAGE_BYTES / (1024u * 1024u));
}

static int memory_over_ceiling(void) {
  return memory_ceiling_mb != 0 && memory_mb() > memory_ceiling_mb;
}

static void count_down_next_chunk(void) {
  Py_ssize_t chunk = steps_in_reserve < STEP_CHUNK ? steps_in_reserve : STEP_CHUNK;
  steps_in_reserve -= chunk;
  _PyMeshwasm_steps_left = chunk;
}

static void log_line(uint32_t level, const char *text) {
  proxy_log(level, text, strlen(text));
}

static _Noreturn void stop_vm(const char *why) {
  log_line(PROXY_LOG_CRITICAL, why);
  __builtin_trap();
}

/* Raise LimitExceeded(message) in the running Python code and leave the policy a grace. */
static int raise_limit(PyObject *message) {
  state = BUDGET_GRACE;
  _PyMeshwasm_steps_left = grace_steps;
  if (message != NULL) {
    PyErr_SetObject(limit_error, message);
    Py_DECREF(message);
  } else if (!PyErr_Occurred()) {
    PyErr_SetNone(limit_error);
  }
  return -1;
}

static PyObject *memory_message(void) {
  return PyUnicode_FromFormat(
      "%s: the VM's memory reached %u MiB, past its ceiling of %u MiB "
      "(register(max_memory_mb=...)); this request fails and the VM will be replaced "
      "once it is over", running, memory_mb(), memory_ceiling_mb);
}

/* The memory ceiling was passed during the callback of context `context_id`. */
static void request_recycle(uint32_t context_id) {
  recycle_requested = 1;
  recycle_stream = context_id;
}

static uint32_t current_context = 0;

/* Called by the eval loop when _PyMeshwasm_steps_left ran out (see the patch). */
int _PyMeshwasm_steps_spent(PyThreadState *tstate) {
  (void)tstate;
  if (state == BUDGET_OFF) {
    _PyMeshwasm_steps_left = PY_SSIZE_T_MAX;
    return 0;
  }
  if (state == BUDGET_GRACE)
    stop_vm("meshwasm: the filter kept running after its step budget or memory ceiling "
            "stopped it (it caught LimitExceeded?); stopping the VM");
  if (!recycle_requested && memory_over_ceiling()) {
    request_recycle(current_context);
    return raise_limit(memory_message());
  }
  if (steps_in_reserve > 0) {
    count_down_next_chunk();
    return 0;
  }
  return raise_limit(PyUnicode_FromFormat(
      "%s ran past its budget of %zd interpreter steps (loop iterations and calls; "
      "register(max_callback_steps=...) sets it)", running, step_budget));
}

int limits_load(PyObject *registration) {
  PyObject *limits = PyImport_ImportModule("proxy_wasm.limits");
  if (limits == NULL) return -1;
  limit_error = PyObject_GetAttrString(limits, "LimitExceeded");
  PyObject *grace = PyObject_GetAttrString(limits, "GRACE_STEPS");
  Py_DECREF(limits);
  PyObject *steps = PyObject_GetAttrString(registration, "max_callback_steps");
  PyObject *memory = PyObject_GetAttrString(registration, "max_memory_mb");
  int ok = limit_error != NULL && grace != NULL && steps != NULL && memory != NULL;
  if (ok) {
    step_budget = PyLong_AsSsize_t(steps);
    grace_steps = PyLong_AsSsize_t(grace);
    memory_ceiling_mb = (unsigned)PyLong_AsUnsignedLong(memory);
    ok = !PyErr_Occurred();
  }
  Py_XDECREF(grace);
  Py_XDECREF(steps);
  Py_XDECREF(memory);
  return ok ? 0 : -1;
}

void limits_begin(const char *callback, uint32_t context_id, int ends_stream) {
  /* A VM past its ceiling stops at the first callback that is not the crossing request's,
   * or at that request's last one (proxy_on_delete): its reply was already sent. */
  if (recycle_requested && (context_id != recycle_stream || ends_stream))
    stop_vm("meshwasm: the VM's memory is past its ceiling (register(max_memory_mb=...)); "
            "stopping it so that the proxy replaces it (failure_policy FAIL_RELOAD)");
  running = callback;
  current_context = context_id;
  if (step_budget <= 0) return;
  state = BUDGET_RUNNING;
  steps_in_reserve = step_budget;
  count_down_next_chunk();
}

int limits_end(uint32_t context_id, int is_stream) {
  state = BUDGET_OFF;
  _PyMeshwasm_steps_left = PY_SSIZE_T_MAX;
  if (!recycle_requested && memory_over_ceiling()) {
    request_recycle(context_id);
    char text[200];
    snprintf(text, sizeof(text), "meshwasm: %s: the VM's memory reached %u MiB, past its "
             "ceiling of %u MiB (register(max_memory_mb=...)); the VM will be replaced",
             running, memory_mb(), memory_ceiling_mb);
    log_line(PROXY_LOG_ERROR, text);
    if (is_stream) return 1; /* the caller fails this request by the policy */
  }
  if (recycle_requested && !is_stream)
    stop_vm("meshwasm: the VM's memory is past its ceiling (register(max_memory_mb=...)); "
            "stopping it so that the proxy replaces it (failure_policy FAIL_RELOAD)");
  return 0;
}
