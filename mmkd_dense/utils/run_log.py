# Copyright (c) mmkd_dense contributors. All rights reserved.
"""The Runner of ``tools/train.py`` / ``tools/test.py``, with a console that
shows what a user reads.

mmengine's Runner logs, before the first iteration, the environment (with
PyTorch's build flags), the whole merged config (hundreds of lines for a
distillation config) and the hook table: ~500 console lines. The run log
file (``<work_dir>/<timestamp>/<timestamp>.log``) keeps all of it, and the
config is also saved as ``<work_dir>/<config name>.py``; on the console
:class:`ConsoleSummaryRunner` prints the environment without the build
flags, one line in place of the config dump (where to find it) and nothing
for the hook table.
"""
import logging
from typing import Callable, Optional

from mmengine.runner import Runner

__all__ = ['ConsoleSummaryRunner', 'build_runner', 'set_unique_experiment_name',
           'summarize_for_console']

_COMPILE_DETAILS = 'PyTorch compiling details:'


def summarize_for_console(message: str, config_file: str,
                          log_file: str) -> Optional[str]:
    """The console version of a Runner start-up message.

    Args:
        message (str): the logged message.
        config_file (str): where the Runner saves the config.
        log_file (str): the run log file.

    Returns:
        str | None: None to print ``message`` unchanged, ``''`` to drop it,
        else the shorter text.
    """
    if message.startswith('Config:\n'):
        lines = message.count('\n')
        return (f'Config ({lines} lines): saved as {config_file}, and in '
                f'full in the run log {log_file}')
    if message.startswith('Hooks will be executed in the following order'):
        return ''
    if _COMPILE_DETAILS in message:
        kept, skipping = [], False
        for line in message.split('\n'):
            if _COMPILE_DETAILS in line:
                kept.append(line.split(_COMPILE_DETAILS)[0] +
                            _COMPILE_DETAILS + ' (in the run log)')
                skipping = True
            elif skipping and not (line.startswith('    ') and
                                   line[4:5].strip()):
                continue  # the build flags ("  - ...") and the blank line
            else:
                skipping = False
                kept.append(line)
        return '\n'.join(kept)
    return None


class _ConsoleFilter(logging.Filter):
    """On one (console) handler, replace start-up records by their
    summary; other handlers (the log file) get the record unchanged."""

    def __init__(self, handler: logging.Handler,
                 summarize: Callable[[str], Optional[str]]) -> None:
        super().__init__()
        self.handler = handler
        self.summarize = summarize

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            short = self.summarize(record.getMessage())
        except Exception:  # noqa: BLE001 - never break logging
            return True
        if short is None:
            return True
        if short:
            replacement = logging.makeLogRecord(
                dict(record.__dict__, msg=short, args=()))
            self.handler.emit(replacement)
        return False


class ConsoleSummaryRunner(Runner):
    """``mmengine.runner.Runner`` whose console shows a summary of the
    start-up messages (see :func:`summarize_for_console`); the run log file
    keeps everything."""

    def build_logger(self, *args, **kwargs):
        """The Runner's logger, with the summary filter on its console
        handler(s)."""
        import os.path as osp
        logger = super().build_logger(*args, **kwargs)
        log_file = next((h.baseFilename for h in logger.handlers
                         if isinstance(h, logging.FileHandler)), '')
        name = osp.basename(self.cfg.filename) if self.cfg.filename else \
            f'{self.timestamp}.py'
        config_file = osp.join(self.work_dir, name)
        for handler in logger.handlers:
            if type(handler) is logging.StreamHandler and not any(
                    isinstance(f, _ConsoleFilter) for f in handler.filters):
                handler.addFilter(_ConsoleFilter(
                    handler, lambda msg: summarize_for_console(
                        msg, config_file, log_file)))
        return logger


#: Runners built by :func:`build_runner` in this process.
_RUNNERS_BUILT = [0]


def set_unique_experiment_name(cfg) -> Optional[str]:
    """Give the 2nd, 3rd, ... Runner of this process its own experiment name.

    mmengine names its global logger, message hub and visualizer
    ``<experiment_name or config stem>_<timestamp>`` (seconds). A second
    Runner built in the same process within the same second (in-process
    launchers such as ``benchmark_accuracy --launcher inprocess``, tests)
    would otherwise get the first Runner's instances back: its log lines
    land in the other run's file and its ``vis_data`` in the other work
    dir. The first Runner keeps mmengine's default name; later ones get
    ``<stem>-run<N>``. An ``experiment_name`` set in the config is kept. A
    visualizer name fixed in the config (mmdet's ``'visualizer'``) that an
    earlier Runner already created gets the same ``-run<N>`` suffix.

    Returns:
        str | None: the experiment name set, or None (mmengine's default).
    """
    import os.path as osp

    from mmengine.visualization import Visualizer
    _RUNNERS_BUILT[0] += 1
    # configs name their visualizer (mmdet's runtime: name='visualizer'), so
    # a later Runner would get the earlier one's instance back, which saves
    # into the earlier run's (maybe deleted) work dir
    vis = cfg.get('visualizer')
    if isinstance(vis, dict) and vis.get('name') and \
            Visualizer.check_instance_created(vis['name']):
        vis['name'] = f'{vis["name"]}-run{_RUNNERS_BUILT[0]}'
    if cfg.get('experiment_name') or _RUNNERS_BUILT[0] == 1:
        return cfg.get('experiment_name')
    stem = osp.splitext(osp.basename(cfg.filename))[0] \
        if cfg.get('filename') else 'run'
    cfg.experiment_name = f'{stem}-run{_RUNNERS_BUILT[0]}'
    return cfg.experiment_name


def build_runner(cfg):
    """:class:`ConsoleSummaryRunner` from ``cfg``, or ``RUNNERS.build(cfg)``
    when the config names its own ``runner_type``; with an experiment name
    of its own (:func:`set_unique_experiment_name`)."""
    from mmengine.registry import RUNNERS
    set_unique_experiment_name(cfg)
    if 'runner_type' not in cfg:
        return ConsoleSummaryRunner.from_cfg(cfg)
    return RUNNERS.build(cfg)
