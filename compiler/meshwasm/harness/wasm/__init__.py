"""The compiled-module engine: wasmtime, with the proxy-wasm and WASI imports Envoy gives."""
