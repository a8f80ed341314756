"""Per-stream skipped callbacks, headers read with one host call, metrics and log lines, a
stream class with its own ``__init__`` and ``on_delete``: the SDK and runtime parts whose
compiled form is C (StreamBase, StreamTable, HeaderMapBase.get_many, MetricBase, the log_*
functions) must behave as their Python form in source mode."""

from proxy_wasm import Action, HttpContext, RootContext, log, metrics, register


class Root(RootContext):
    def on_configure(self, configuration: bytes) -> bool:
        self.seen = metrics.Counter("skipping.seen")
        self.level = metrics.Gauge("skipping.level")
        self.sizes = metrics.Histogram("skipping.sizes")
        self.created = metrics.Counter("skipping.created")
        self.deleted = metrics.Counter("skipping.deleted")
        return True


class Skipping(HttpContext):
    root: Root

    def __init__(self, context_id: int, root: RootContext) -> None:
        super().__init__(context_id, root)
        self.root.created.increment()

    def on_delete(self) -> None:
        self.root.deleted.increment()

    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        mode, user, missing = self.request_headers.get_many("x-mode", "X-User", "x-missing")
        root = self.root
        root.seen.increment()
        root.level.set(5)
        root.level.increment(-2)
        root.sizes.record(num_headers)
        try:
            root.seen.increment(-1)
        except ValueError as error:
            log.warn(f"refused: {error}")
        log.info(f"mode={mode} user={user} missing={missing}")
        if mode == "quiet":
            self.skip_callbacks()
        elif mode == "no-log":
            self.skip_callbacks("on_log", "on_done")
        elif mode == "bad":
            self.skip_callbacks("on_tick")  # not a stream callback: raises
        return Action.CONTINUE

    def on_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        self.response_headers.set("x-response-seen", str(self.context_id > 0).lower())
        return Action.CONTINUE

    def on_log(self) -> None:
        log.info("on_log ran")

    def on_done(self) -> None:
        log.debug("on_done ran")


register(Skipping, root=Root)
