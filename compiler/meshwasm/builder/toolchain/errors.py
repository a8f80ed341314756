"""The toolchain's one error type."""


class ToolchainError(RuntimeError):
    """The toolchain could not be fetched or built; the message says what to do."""
