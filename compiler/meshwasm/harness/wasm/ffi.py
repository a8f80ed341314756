"""A lean path across the Python <-> Wasm boundary, on wasmtime's *unchecked* C API.

wasmtime-py's ``Func.__call__`` and ``Linker.define_func`` rebuild the function type and box
every value on each call (~20 us a call); the unchecked entry points take an array of raw
values, bringing a call to ~1-2 us.  That matters: the harness must replay thousands of
requests a second, and each request is a dozen calls each way.  Types are checked once, when
imports are linked (see ``engine.py``), which is what makes the unchecked calls safe.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import wasmtime
from wasmtime import _bindings as _b

from meshwasm.harness.errors import GuestTrap, time_limit_note
from meshwasm.harness.wasm import epoch

_call_unchecked = _b._wasmtime_func_call_unchecked
_set_epoch_deadline = _b._wasmtime_context_set_epoch_deadline
_RawArray = _b.wasmtime_val_raw_t
_TrapPtr = ctypes.POINTER(_b.wasm_trap_t)
_NO_FINALIZER = ctypes.cast(None, ctypes.CFUNCTYPE(None, ctypes.c_void_p))

_KINDS = {"i": wasmtime.ValType.i32, "I": wasmtime.ValType.i64}


def func_type(signature: str) -> wasmtime.FuncType:
    """``"iiI>i"`` -> (i32, i32, i64) -> i32; ``"i>"`` -> (i32) -> ()."""
    params, results = signature.split(">")
    return wasmtime.FuncType([_KINDS[k]() for k in params], [_KINDS[k]() for k in results])


def signature_of(ty: wasmtime.FuncType) -> str | None:
    """The inverse of ``func_type``; ``None`` for types using other than i32/i64."""
    names = {"i32": "i", "i64": "I"}
    try:
        params = "".join(names[str(p)] for p in ty.params)
        results = "".join(names[str(r)] for r in ty.results)
    except KeyError:
        return None
    return f"{params}>{results}"


class HostErrors:
    """Holds a Python exception raised inside a host function until the guest call unwinds."""

    def __init__(self) -> None:
        self.pending: BaseException | None = None


class FastFunc:
    """An exported function of i32 parameters, called through the unchecked API."""

    __slots__ = ("name", "_ctx", "_ref", "_args", "_nparams", "_has_result", "_errors",
                 "_func", "_limit_s", "_deadline")

    def __init__(self, store: wasmtime.Store, func: wasmtime.Func, name: str,
                 errors: HostErrors, time_limit_s: float | None = None) -> None:
        ty = func.type(store)
        self.name = name
        self._func = func  # keep the wasmtime object alive: _ref points into it
        self._ctx = store._context()
        self._ref = ctypes.byref(func._func)
        self._nparams = len(ty.params)
        self._has_result = len(ty.results) > 0
        self._args = (_RawArray * max(self._nparams, len(ty.results), 1))()
        self._errors = errors
        self._limit_s = time_limit_s
        self._deadline = epoch.deadline_ticks(time_limit_s)

    def __call__(self, *params: int) -> int | None:
        args = self._args
        i = 0
        for value in params:
            args[i].i32 = value
            i += 1
        trap = _TrapPtr()
        _set_epoch_deadline(self._ctx, self._deadline)
        error = _call_unchecked(self._ctx, self._ref, args, len(args), ctypes.byref(trap))
        if error or trap:
            self._raise(error, trap)
        return args[0].i32 if self._has_result else None

    def _raise(self, error: object, trap: object) -> None:
        pending, self._errors.pending = self._errors.pending, None
        if pending is not None:
            raise pending  # a bug in a host function, not the module's fault
        if trap:
            caught = wasmtime.Trap._from_ptr(trap)
            message = time_limit_note(self._limit_s) \
                if caught.trap_code == wasmtime.TrapCode.INTERRUPT else caught.message
        else:
            message = str(wasmtime.WasmtimeError._from_ptr(error))
        raise GuestTrap(message)


_HostCallback = _b.wasmtime_func_unchecked_callback_t


def define_host_func(linker: wasmtime.Linker, module: str, name: str, signature: str,
                     impl: Callable[..., int | None], errors: HostErrors,
                     keep: list[object]) -> None:
    """Define ``module.name`` in ``linker`` as ``impl`` taking the parameters as Python ints.

    i32 parameters arrive unsigned (they are pointers, sizes and enums; the few signed ones
    are converted by the implementation), i64 ones signed.
    """
    params, results = signature.split(">")
    # A generated reader per arity avoids a Python loop per call.
    readers = ", ".join(f"a[{i}].i32 & 0xFFFFFFFF" if kind == "i" else f"a[{i}].i64"
                        for i, kind in enumerate(params))
    scope: dict[str, object] = {"impl": impl}
    if results:
        body = f"def call(a):\n    a[0].i32 = impl({readers})\n"
    else:
        body = f"def call(a):\n    impl({readers})\n"
    exec(body, scope)  # noqa: S102 - the source is built from the fixed signature above
    call = scope["call"]
    label = f"{module}.{name}"

    def trampoline(env: object, caller: object, args: object, nargs: int) -> int:
        try:
            call(args)  # type: ignore[operator]
            return 0
        except BaseException as exc:  # noqa: BLE001 - re-raised when the guest call unwinds
            errors.pending = exc
            message = f"host function {label} raised {type(exc).__name__}".encode()
            trap = _b.wasmtime_trap_new(ctypes.create_string_buffer(message), len(message))
            return ctypes.cast(trap, ctypes.c_void_p).value or 0

    callback = _HostCallback(trampoline)
    keep.append(callback)  # ctypes callbacks die with their Python object
    ty = func_type(signature)
    keep.append(ty)
    mod, nm = module.encode(), name.encode()
    error = _b.wasmtime_linker_define_func_unchecked(
        linker.ptr(), mod, len(mod), nm, len(nm), ty.ptr(), callback, None, _NO_FINALIZER)
    if error:
        raise wasmtime.WasmtimeError._from_ptr(error)
