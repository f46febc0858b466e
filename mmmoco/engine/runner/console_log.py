"""A short console, a complete log file, and a last line that says where the results are.

mmengine's runner logs the whole environment, the whole config and the hook table at start
(hundreds of lines before the first training step). They still go to the work-dir log file;
on the console a filter drops them unless the config sets ``verbose_console=True``
(``--verbose`` of tools/train.py and the transfer wrapper).
"""
import logging
from typing import Optional

from mmengine.logging import MMLogger

from mmmoco.utils.logging_filters import DropMessages

#: The top-level config key that keeps the start-up dumps on the console.
VERBOSE_KEY = 'verbose_console'

#: How mmengine's runner starts its environment dump, its config dump, its hook table and
#: its note on a one-process run (which reverts SyncBN layers whether the model has any or not).
FILE_ONLY_MESSAGES = ('\n' + '-' * 60 + '\nSystem environment:', 'Config:\n',
                      'Hooks will be executed in the following order:',
                      'Distributed training is not used, all SyncBatchNorm')


def is_console_handler(handler: logging.Handler) -> bool:
    """Whether a handler writes to a stream other than a file (mmengine's console handler).

    Args:
        handler: A logging handler.

    Returns:
        True for a ``StreamHandler`` that is not a ``FileHandler``.
    """
    return isinstance(handler, logging.StreamHandler) and not isinstance(
        handler, logging.FileHandler)


def keep_dumps_off_console(logger: logging.Logger) -> None:
    """Drop the start-up dumps (:data:`FILE_ONLY_MESSAGES`) from the logger's console
    handlers; its file handlers keep everything.

    Args:
        logger: The runner's logger.
    """
    for handler in logger.handlers:
        if is_console_handler(handler):
            handler.addFilter(DropMessages(FILE_ONLY_MESSAGES))


def log_file(logger: logging.Logger) -> Optional[str]:
    """The file a logger writes to.

    Args:
        logger: A logger.

    Returns:
        The path of its first file handler, or None.
    """
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler):
            return handler.baseFilename
    return None


def outputs_line(what: str, **paths: Optional[str]) -> str:
    """One line saying where a run's results are.

    Args:
        what: What finished, e.g. ``'training'``.
        **paths: Name -> path; underscores in a name become spaces, None values are left out.

    Returns:
        E.g. ``'training done: work dir W, last checkpoint C, log L'``.
    """
    where = ', '.join(f"{name.replace('_', ' ')} {path}" for name, path in paths.items()
                      if path is not None)
    return f'{what} done: {where}'


class ConsoleLogMixin:
    """Runner methods for a short console (see the module's docstring) and a last line
    naming the work dir, the last checkpoint and the log file."""

    def build_logger(self, log_level='INFO', log_file=None, **kwargs) -> MMLogger:
        """Build mmengine's logger; keep the start-up dumps off its console handler unless
        the config's ``verbose_console`` is true.

        Args:
            log_level: The level of the logger's handlers.
            log_file: The log file, or None for mmengine's default in the work dir.
            **kwargs: Further :class:`~mmengine.logging.MMLogger` arguments.

        Returns:
            The logger.
        """
        logger = super().build_logger(log_level=log_level, log_file=log_file, **kwargs)
        if not self.cfg.get(VERBOSE_KEY, False):
            keep_dumps_off_console(logger)
        return logger

    def report_outputs(self, what: str, **paths: Optional[str]) -> None:
        """Log on rank 0 one line with the work dir, ``paths`` and the log file.

        Args:
            what: What finished, e.g. ``'test'``.
            **paths: Further name -> path pairs (see :func:`outputs_line`).
        """
        if self.rank == 0:
            self.logger.info(outputs_line(what, work_dir=self.work_dir, **paths,
                                          log=log_file(self.logger)))

    def train(self):
        """Train, then say where the work dir, the last checkpoint and the log file are.

        Returns:
            The trained model.
        """
        model = super().train()
        self.report_outputs('training',
                            last_checkpoint=self.message_hub.get_info('last_ckpt'))
        return model
