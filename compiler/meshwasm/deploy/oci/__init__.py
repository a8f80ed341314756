"""Wasm images in OCI registries: ``transfer.push``/``pull``, the image layouts Istio's agent
unpacks (``image``) and the distribution protocol (``registry``)."""
