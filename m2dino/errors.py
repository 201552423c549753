"""The package's configuration error: a config that cannot work, named by its key (``python -m m2dino`` prints it
and exits with status 2, without a traceback). Bad *data* is :class:`m2dino.data.errors.DataError`."""
from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value that cannot work; the message starts with the key (``data.root: ...``)."""
