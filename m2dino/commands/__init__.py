"""One module per CLI verb: ``HELP`` (one line) and ``main(argv) -> int``."""
