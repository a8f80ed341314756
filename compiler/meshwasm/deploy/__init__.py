"""Deploy: one sub-package per place a module goes.

- ``envoy`` — a real Envoy on loopback: bootstrap (``config``), process (``process``), its
  log (``logs``), traffic replayed through it (``replay``, ``chain``), the upstreams it talks
  to (``upstream``, ``grpc_upstream``, ``echo_upstream``), the tap filter of ``record``
  (``tap``) and the Envoy ``dev --envoy`` reloads (``reloadable``);
- ``oci`` — Wasm images in an OCI registry: the image layouts (``image``), the registry
  protocol (``registry``), ``push``/``pull`` (``transfer``);
- ``istio`` — ``WasmPlugin`` manifests written and validated against Istio's CRD
  (``wasmplugin``, ``crd_schema``, ``k8s_cel``) and plugins put in Istio's order
  (``plugin_chain``).
"""
