"""Logging filters that drop records by the start of their message."""
import logging
from contextlib import contextmanager
from typing import Iterator, Sequence


class DropMessages(logging.Filter):
    """Drop every record whose message starts with one of the given prefixes.

    Args:
        prefixes: Starts of the messages to drop.
    """

    def __init__(self, prefixes: Sequence[str]) -> None:
        super().__init__()
        self.prefixes = tuple(prefixes)

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether the record passes.

        Args:
            record: The log record.

        Returns:
            False for a message starting with one of the prefixes, else True.
        """
        return not str(record.msg).startswith(self.prefixes)


@contextmanager
def dropped_messages(logger: logging.Logger, prefixes: Sequence[str]) -> Iterator[None]:
    """Drop the logger's records starting with ``prefixes`` while the block runs.

    Args:
        logger: The logger whose records are filtered (from every handler).
        prefixes: Starts of the messages to drop.

    Yields:
        Nothing.
    """
    record_filter = DropMessages(prefixes)
    logger.addFilter(record_filter)
    try:
        yield
    finally:
        logger.removeFilter(record_filter)
