# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Build the Runner of ``tools/train.py`` / ``tools/test.py``."""

__all__ = ['build_runner']


def build_runner(cfg):
    """``Runner.from_cfg(cfg)``, or ``RUNNERS.build(cfg)`` when the config
    names a ``runner_type``."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)
