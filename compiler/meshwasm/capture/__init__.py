"""Traffic captured from real clients and proxies, turned into traffic files.

``har`` reads browsers' HAR files, ``tap`` Envoy's tap filter traces
(``envoy.filters.http.tap``, buffered JSON output), ``access_log`` Envoy's JSON access logs
(Istio's default JSON format); each gives ``CapturedExchange``s that ``to_traffic`` writes as
a traffic file (``meshwasm import``; ``meshwasm record`` captures with the tap filter).
"""
