"""A filter that misbehaves on demand (``x-misbehave``), for the harness's own limits:
loops forever, allocates without end, raises SystemExit or KeyboardInterrupt, or loops while
swallowing whatever is raised into it."""

import sys

from proxy_wasm import Action, HttpContext, register


def loop_forever() -> None:
    while True:
        pass


def loop_swallowing_everything() -> None:
    while True:
        try:
            loop_forever()
        except BaseException:  # noqa: BLE001 - the point: even the harness's stop is caught
            pass


def allocate_forever() -> None:
    hoard = []
    while True:
        hoard.append(bytearray(1 << 20))


def exit_now() -> None:
    sys.exit(3)


def interrupt_now() -> None:
    raise KeyboardInterrupt


MISBEHAVIOURS = {"loop": loop_forever, "swallow": loop_swallowing_everything,
                 "allocate": allocate_forever, "exit": exit_now, "interrupt": interrupt_now}


class Hostile(HttpContext):
    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        misbehave = MISBEHAVIOURS.get(self.request_headers.get("x-misbehave", ""))
        if misbehave is not None:
            misbehave()
        return Action.CONTINUE


# The largest step budget: these tests are about the harness's own guard (which also stops
# modules other SDKs built), so the module's budget must not stop the loop first.
register(Hostile, max_callback_steps=2**31 - 1)
