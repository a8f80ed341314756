"""meshwasm: build, test and ship proxy-wasm filters written in Python."""

__version__ = "0.1.0"
