"""One module per CLI verb: ``HELP`` (one line) and ``main(argv) -> int``."""


def list_option(raw: str) -> list[str]:
    """The items of a list option's value, ``[a,b]`` or ``a,b`` (spaces trimmed, empty items dropped)."""
    return [x.strip() for x in raw.strip("[]").split(",") if x.strip()]
