"""One module per ``ddnm-batch`` command, each exposing ``register(app)``."""
