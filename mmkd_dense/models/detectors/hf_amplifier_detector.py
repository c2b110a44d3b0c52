# Copyright (c) mmkd_dense contributors. All rights reserved.
"""DS2D2 stage 2: the high-frequency amplifier.

DS2D2 (Gao et al., TGRS 2025, arXiv 2512.04413) distils "implicit" knowledge
by running student and teacher features through detection heads and
matching the predictions. The *high-frequency amplifier* is a head trained
on the high-frequency part of the frozen teacher's FPN features,
``HF(F) = upsample(LH + HL + HH)`` (:func:`~mmkd_dense.models.utils.
haar_wavelet.high_frequency`). :class:`HFAmplifierDetector` is the model of
that training stage; :func:`load_amplifier_head` gives the trained head to
the student-stage losses.
"""
import copy
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from mmengine.config import ConfigDict
from mmengine.model import BaseModel
from torch import Tensor, nn

from mmkd_dense.registry import MODELS
from ..algorithms.gt_aware_distill import resolve_detector_cfg
from ..utils.haar_wavelet import high_frequency

__all__ = [
    'HFAmplifierDetector', 'load_amplifier_head', 'amplifier_detector_cfg',
    'build_head_from_detector_cfg', 'high_frequency_hook'
]


def high_frequency_hook(module: nn.Module, inputs: Any,
                        outputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
    """Forward hook that replaces each neck output ``F`` by ``HF(F)``."""
    return tuple(high_frequency(feat) for feat in outputs)


def _with_scope(cfg: Dict, scope: str = 'mmdet') -> ConfigDict:
    """A ``ConfigDict`` copy of ``cfg`` (mmdet reads nested fields as
    attributes) with an explicit registry scope unless its type names
    one."""
    cfg = ConfigDict(copy.deepcopy(dict(cfg)))
    if isinstance(cfg.get('type'), str) and '.' not in cfg['type']:
        cfg.setdefault('_scope_', scope)
    return cfg


@MODELS.register_module()
class HFAmplifierDetector(BaseModel):
    """A detector trained on the high-frequency part of frozen features.

    Wraps any mmdet detector: its ``frozen_modules`` (backbone and neck) get
    ``requires_grad=False`` and stay in eval mode, and every neck output
    ``F`` is replaced by ``HF(F)`` (sum of the three one-level Haar detail
    bands, bilinearly upsampled back to ``F``'s size) before the heads see
    it. Only the heads are trained (RetinaNet / FCOS / GFL: ``bbox_head``;
    Faster R-CNN: ``rpn_head`` and ``roi_head``; DS2D2 keeps only the
    ``bbox_head`` / ``roi_head`` afterwards).

    Initialise everything from the trained teacher with ``load_from =
    <teacher checkpoint>`` in the config: checkpoint keys of a plain detector
    (``backbone.*``, ``neck.*``, ``bbox_head.*``) are mapped onto
    ``detector.*``, so the teacher checkpoint and this model's own
    checkpoints both load. ``tools/test.py`` evaluates the amplifier on HF
    features.

    Args:
        detector (dict): the detector config (normally the teacher's
            ``model``), or ``dict(cfg_file='configs/detectors/...py',
            cfg_options={...})``.
        frozen_modules (Sequence[str]): children of the detector to freeze.
            Defaults to ``('backbone', 'neck')``.
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 detector: Union[Dict, nn.Module],
                 frozen_modules: Sequence[str] = ('backbone', 'neck'),
                 init_cfg: Optional[Dict] = None) -> None:
        if isinstance(detector, dict):
            detector = MODELS.build(_with_scope(
                resolve_detector_cfg(detector, 'model.detector')))
        if not hasattr(detector, 'neck') or detector.neck is None:
            raise ValueError(
                'model.detector must have a neck (the HF transform is applied '
                f'to its outputs); {type(detector).__name__} has none.')
        super().__init__(
            data_preprocessor=detector.data_preprocessor, init_cfg=init_cfg)
        self.detector = detector
        self.frozen_modules = tuple(frozen_modules)
        for name in self.frozen_modules:
            module = getattr(detector, name, None)
            if not isinstance(module, nn.Module):
                children = [n for n, _ in detector.named_children()]
                raise ValueError(
                    f'model.frozen_modules: "{name}" is not a child of '
                    f'{type(detector).__name__} (has {children}).')
            module.requires_grad_(False)
            module.eval()
        self._hf_handle = detector.neck.register_forward_hook(
            high_frequency_hook)

    def train(self, mode: bool = True) -> 'HFAmplifierDetector':
        """Set train/eval mode, keeping the frozen modules in eval mode."""
        super().train(mode)
        for name in self.frozen_modules:
            getattr(self.detector, name).eval()
        return self

    def extract_feat(self, batch_inputs: Tensor) -> Tuple[Tensor, ...]:
        """``HF(neck(backbone(x)))``: the features the heads are trained on.

        Returns:
            tuple[Tensor]: per level ``(N, C, H_l, W_l)``.
        """
        return self.detector.extract_feat(batch_inputs)

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[List] = None,
                mode: str = 'tensor') -> Any:
        """Same modes as an mmdet detector (``loss``, ``predict``,
        ``tensor``), on high-frequency features."""
        return self.detector(inputs, data_samples, mode=mode)

    def loss(self, batch_inputs: Tensor, batch_data_samples: List) -> Dict:
        """Head losses on HF features (backbone and neck frozen)."""
        return self.detector.loss(batch_inputs, batch_data_samples)

    def predict(self, batch_inputs: Tensor, batch_data_samples: List,
                rescale: bool = True) -> List:
        """Detections of the amplifier on HF features."""
        return self.detector.predict(batch_inputs, batch_data_samples,
                                     rescale=rescale)

    def _forward(self, batch_inputs: Tensor,
                 batch_data_samples: Optional[List] = None) -> Any:
        """Raw head outputs on HF features."""
        return self.detector._forward(batch_inputs, batch_data_samples)

    def _load_from_state_dict(self, state_dict: Dict, prefix: str,
                              local_metadata: Dict, strict: bool,
                              missing_keys: List[str],
                              unexpected_keys: List[str],
                              error_msgs: List[str]) -> None:
        """Accept plain-detector checkpoints (e.g. the teacher's) by moving
        their ``backbone.* / neck.* / *_head.*`` keys under ``detector.``."""
        own = set(self._modules)
        detector_children = set(self.detector._modules)
        for key in list(state_dict.keys()):
            if not key.startswith(prefix):
                continue
            rest = key[len(prefix):]
            first = rest.split('.', 1)[0]
            if first in detector_children and first not in own:
                state_dict[prefix + 'detector.' + rest] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)


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
        _with_scope(head, detector_cfg.get('_scope_', 'mmdet')))


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
