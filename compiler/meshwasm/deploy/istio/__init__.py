"""Istio: ``WasmPlugin`` manifests (``wasmplugin``, validated offline against Istio's CRD in
``schemas/``) and chains of plugins in the order Istio puts them into Envoy
(``plugin_chain``)."""
