"""The suite's one error type for bad input: a leaf module, so anything may import it."""


class ConfigError(ValueError):
    """A bad config or command line; its message is the single line shown to the user."""
