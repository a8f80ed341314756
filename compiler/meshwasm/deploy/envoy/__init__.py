"""A real Envoy on loopback running modules.

Entry points: ``replay.replay_in_envoy`` (traffic -> verdicts), ``process.start_envoy`` (a
context manager around one Envoy), ``config.EnvoyOptions``/``bootstrap`` and
``upstream.run_upstream``.
"""
