"""The rest of the ABI through the SDK's public API: a root context that finishes work
before it stops (``on_done`` -> False, then ``done()``), ``close_stream``, ``log.level()``,
and ``make_effective`` resuming a paused stream from the root's tick."""

from proxy_wasm import Action, HostCallError, HttpContext, RootContext, foreign, log, register


class Root(RootContext):
    def __init__(self, context_id: int) -> None:
        super().__init__(context_id)
        self.held: list["Lifecycle"] = []
        self.stopping = False

    def on_done(self) -> bool:
        log.info("root: stopping, flushing first")
        self.stopping = True
        self.set_tick_period_ms(100)
        return False

    def on_tick(self) -> None:
        if self.stopping:
            log.info("root: flushed")
            self.set_tick_period_ms(0)
            self.done()
            return
        self.set_tick_period_ms(0)
        for stream in self.held:
            if stream.make_effective():
                stream.send_local_response(200, b"resumed by the root's tick\n")
            else:
                log.info(f"stream {stream.context_id} is gone")
        self.held.clear()


class Lifecycle(HttpContext):
    root: Root

    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        path = self.request_headers.get(":path", "/")
        if path == "/close":
            self.close_stream()
            return Action.PAUSE
        if path == "/log-level":
            self.send_local_response(200, f"level {log.level().name}\n")
            return Action.PAUSE
        if path == "/done-too-early":
            try:
                self.root.done()
            except HostCallError as error:
                self.send_local_response(200, f"done: status {error.args[1]}\n")
                return Action.PAUSE
        if path == "/foreign":
            answers = [foreign.clear_route_cache(),
                       foreign.declare_property("lifecycle.probe", "string"),
                       foreign.declare_property("lifecycle.probe", "string"),
                       foreign.call("no_such_function")]
            self.send_local_response(200, f"{answers}\n")
            return Action.PAUSE
        if path == "/hold":
            self.root.held.append(self)
            self.root.set_tick_period_ms(50)
            return Action.PAUSE
        if path == "/hold-and-answer":  # held, but answered now: the tick finds it gone
            self.root.held.append(self)
            self.root.set_tick_period_ms(50)
            self.send_local_response(200, b"answered at once\n")
            return Action.PAUSE
        return Action.CONTINUE


register(Lifecycle, root=Root)
