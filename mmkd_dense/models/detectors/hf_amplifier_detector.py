# Copyright (c) mmkd_dense contributors. All rights reserved.
"""DS2D2 stage 2: the high-frequency amplifier.

DS2D2 (Gao et al., TGRS 2025, arXiv 2512.04413) distils "implicit" knowledge
by running student and teacher features through detection heads and
matching the predictions. The *high-frequency amplifier* is a head trained
on the high-frequency part of the frozen teacher's FPN features,
``HF(F) = upsample(LH + HL + HH)`` (:func:`~mmkd_dense.models.utils.
haar_wavelet.high_frequency`). :class:`HFAmplifierDetector` is the model of
that training stage; :func:`~mmkd_dense.models.utils.amplifier_head.
load_amplifier_head` gives the trained head to the student-stage losses.
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from mmengine.model import BaseModel
from torch import Tensor, nn

from mmkd_dense.registry import MODELS
from mmkd_dense.utils.detector_cfg import resolve_detector_cfg
from ..utils.amplifier_head import with_scope
from ..utils.haar_wavelet import high_frequency

__all__ = ['HFAmplifierDetector', 'high_frequency_hook']


def high_frequency_hook(module: nn.Module, inputs: Any,
                        outputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
    """Forward hook that replaces each neck output ``F`` by ``HF(F)``."""
    return tuple(high_frequency(feat) for feat in outputs)


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
            detector = MODELS.build(with_scope(
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
