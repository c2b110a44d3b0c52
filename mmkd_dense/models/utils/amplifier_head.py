# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Build a detector head from a detector (or HF-amplifier) config.

DS2D2's implicit losses run a frozen *amplifier* head: the head of the
high-frequency amplifier stage
(:class:`~mmkd_dense.models.detectors.HFAmplifierDetector`), built from that
stage's config and loaded from its checkpoint by
:func:`load_amplifier_head`. This lives in ``models/utils`` so the losses do
not import the detectors package (imports flow utils -> losses ->
distillers -> algorithms).
"""
import copy
import os.path as osp
from typing import Dict, Optional, Union

from mmengine.config import ConfigDict
from torch import Tensor, nn

from mmkd_dense.registry import MODELS
from mmkd_dense.utils.detector_cfg import resolve_detector_cfg

__all__ = [
    'load_amplifier_head', 'amplifier_detector_cfg',
    'build_head_from_detector_cfg', 'with_scope'
]


def with_scope(cfg: Dict, scope: str = 'mmdet') -> ConfigDict:
    """A ``ConfigDict`` copy of ``cfg`` (mmdet reads nested fields as
    attributes) with an explicit registry scope unless its type names
    one."""
    cfg = ConfigDict(copy.deepcopy(dict(cfg)))
    if isinstance(cfg.get('type'), str) and '.' not in cfg['type']:
        cfg.setdefault('_scope_', scope)
    return cfg


def amplifier_detector_cfg(amplifier_cfg: Union[str, Dict],
                           key: str) -> Dict:
    """The detector model dict behind an amplifier config.

    Args:
        amplifier_cfg (str | dict): path of the amplifier-stage config
            (whose ``model`` is an ``HFAmplifierDetector``) or of a detector
            config, or such a model dict.
        key (str): config key named in error messages.

    Returns:
        dict: the wrapped detector's model dict.
    """
    if isinstance(amplifier_cfg, str):
        model = resolve_detector_cfg(dict(cfg_file=amplifier_cfg), key)
    elif isinstance(amplifier_cfg, dict):
        model = resolve_detector_cfg(amplifier_cfg, key)
    else:
        raise TypeError(f'{key} must be a config path or a model dict, got '
                        f'{type(amplifier_cfg).__name__}.')
    model = copy.deepcopy(dict(model))
    if str(model.get('type', '')).split('.')[-1] == 'HFAmplifierDetector':
        model = resolve_detector_cfg(model['detector'], f'{key}.detector')
        model = copy.deepcopy(dict(model))
    return model


def build_head_from_detector_cfg(detector_cfg: Dict, head_key: str,
                                 key: str) -> nn.Module:
    """Build one head of a detector config the way the detector would
    (with its ``train_cfg`` / ``test_cfg`` part).

    Args:
        detector_cfg (dict): detector model dict.
        head_key (str): ``'bbox_head'`` (single-stage) or ``'roi_head'``.
        key (str): config key named in error messages.

    Returns:
        nn.Module: the head.
    """
    if detector_cfg.get(head_key) is None:
        heads = [k for k in detector_cfg if k.endswith('head')]
        raise KeyError(f'{key}: the amplifier detector has no "{head_key}" '
                       f'(has {heads}).')
    head = copy.deepcopy(dict(detector_cfg[head_key]))
    train_cfg = detector_cfg.get('train_cfg')
    test_cfg = detector_cfg.get('test_cfg')
    if head_key == 'roi_head':
        head.update(
            train_cfg=train_cfg.get('rcnn') if train_cfg else None,
            test_cfg=test_cfg.get('rcnn') if test_cfg else None)
    else:
        head.update(train_cfg=train_cfg, test_cfg=test_cfg)
    return MODELS.build(
        with_scope(head, detector_cfg.get('_scope_', 'mmdet')))


def _head_state_dict(state_dict: Dict[str, Tensor],
                     head_key: str) -> Dict[str, Tensor]:
    """Keys of ``head_key`` from a detector / amplifier / distill ckpt."""
    prefixes = (f'detector.{head_key}.', f'{head_key}.')
    out = {}
    for name, value in state_dict.items():
        for prefix in prefixes:
            if name.startswith(prefix):
                out[name[len(prefix):]] = value
                break
    return out


def _quiet_init_weights(module: nn.Module) -> None:
    """``module.init_weights()`` without mmengine's per-parameter log."""
    import logging

    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        module.init_weights()
    finally:
        logger.setLevel(level)


def load_amplifier_head(amplifier_cfg: Union[str, Dict],
                        amplifier_ckpt: Optional[str],
                        head_key: str,
                        key: str = 'amplifier') -> nn.Module:
    """Build the head of a (trained) HF amplifier, frozen.

    Args:
        amplifier_cfg (str | dict): amplifier-stage config path (or model
            dict); see :func:`amplifier_detector_cfg`.
        amplifier_ckpt (str, optional): checkpoint of the amplifier stage
            (``HFAmplifierDetector`` or plain detector keys). None keeps the
            random initialisation (tests only).
        head_key (str): ``'bbox_head'`` or ``'roi_head'``.
        key (str): config key prefix for error messages.

    Returns:
        nn.Module: the head, ``requires_grad=False``, in eval mode.
    """
    if amplifier_ckpt is not None and not osp.isfile(amplifier_ckpt):
        stage2 = amplifier_cfg if isinstance(amplifier_cfg, str) else \
            '<amplifier config>'
        raise FileNotFoundError(
            f'{key}.amplifier_ckpt="{amplifier_ckpt}" does not exist. Train '
            'the high-frequency amplifier first (stage 2, see '
            f'configs/ds2d2/README.md: python tools/train.py {stage2}) or '
            'point amplifier_ckpt at its checkpoint.')
    detector_cfg = amplifier_detector_cfg(amplifier_cfg,
                                          f'{key}.amplifier_cfg')
    head = build_head_from_detector_cfg(detector_cfg, head_key,
                                        f'{key}.amplifier_cfg')
    if amplifier_ckpt is not None:
        from mmkd_dense.utils import strict_loading
        ckpt_key = f'{key}.amplifier_ckpt'
        state = strict_loading.read_state_dict(amplifier_ckpt, ckpt_key,
                                               mmap=True)
        fix = (f'Point {ckpt_key} at the checkpoint of the amplifier stage '
               f'trained with {key}.amplifier_cfg (python tools/train.py '
               '<amplifier config>: work_dirs/<amplifier config>/'
               'epoch_N.pth).')
        head_state = _head_state_dict(state, head_key)
        if not head_state:
            tops = sorted({k.split('.')[0] for k in state})
            raise strict_loading.CheckpointMismatchError(
                f'{ckpt_key}="{amplifier_ckpt}" has no "{head_key}.*" (or '
                f'"detector.{head_key}.*") weights; top-level keys: {tops}. '
                + fix)
        strict_loading.load_state_dict_strict(
            head, amplifier_ckpt, ckpt_key,
            f'the {head_key} of {key}.amplifier_cfg', state=head_state,
            hint_fn=lambda *_: fix)
        head._is_init = True  # keep Runner.init_weights() off it
    else:
        from mmkd_dense.utils.strict_loading import log
        log(f'{key}.amplifier_ckpt is None: the amplifier {head_key} keeps '
            'its initialisation (expected in tests, or when a full '
            'distillation checkpoint restores it: tools/test.py, --resume).',
            level='WARNING')
        if hasattr(head, 'init_weights'):
            _quiet_init_weights(head)  # the head's own init
    head.requires_grad_(False)
    head.eval()
    return head
