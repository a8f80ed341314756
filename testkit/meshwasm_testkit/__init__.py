"""What meshwasm's own tests and benchmarks need and its users do not: a throw-away OCI
registry, a rate-limit service, Envoy's native filters as peers of ours, and raw C filters
standing for other SDKs' modules.

A separate distribution (``testkit/pyproject.toml``, ``meshwasm-testkit``) that ``make setup``
installs beside meshwasm in editable mode; a user's ``pip install meshwasm`` does not get it.
"""
