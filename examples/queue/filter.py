"""queue: streams hand audit lines to the plugin's root context through a shared queue.

Every worker VM's root registers the queue ``audit`` in ``on_configure``; in Envoy, a queue
name registered again keeps its messages and id, and notifies the root that registered it
last.  A stream enqueues one line per request; the root drains the queue in
``on_queue_ready``, logs each line and counts them in the ``queue_audit_lines`` counter.
"""

from proxy_wasm import Action, HttpContext, RootContext, log, queues, register
from proxy_wasm.metrics import Counter

QUEUE = "audit"
queue_id = 0  # this VM's id for the queue (the same in every VM)


class AuditRoot(RootContext):
    def on_configure(self, configuration: bytes) -> bool:
        global queue_id
        queue_id = queues.register(QUEUE)
        self.lines = Counter("queue_audit_lines")
        return True

    def on_queue_ready(self, ready_id: int) -> None:
        while (message := queues.dequeue(ready_id)) is not None:
            log.info(f"audit: {message.decode()}")
            self.lines.increment()


class Audit(HttpContext):
    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        method = self.request_headers.get(":method", "")
        path = self.request_headers.get(":path", "")
        user = self.request_headers.get("x-user", "anonymous")
        queues.enqueue(queue_id, f"{user} {method} {path}".encode())
        return Action.CONTINUE


register(Audit, root=AuditRoot)
