"""Deploy: run modules in a real Envoy on loopback (config, process, upstream, replay).

Entry points: ``envoy_replay.replay_in_envoy`` (traffic -> verdicts), ``envoy_process.start_envoy``
(a context manager around one Envoy), ``envoy_config.EnvoyOptions``/``bootstrap`` and
``upstream.run_upstream``.
"""
