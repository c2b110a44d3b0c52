# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Export a single-stage student's raw head outputs to ONNX.

The graph holds backbone, neck and head (``mode='tensor'``): for an image
batch ``input (N, 3, H, W)`` (already normalised and padded by the model's
``data_preprocessor``) it returns, per output group of the head and per FPN
level ``l``, one tensor named ``{group}_{l}``:

- RetinaNet (``RetinaHead`` / ``LightMLRetinaHead``): ``cls_score_l``
  ``(N, A*K, H_l, W_l)``, ``bbox_pred_l`` ``(N, A*4, H_l, W_l)``;
- FCOS (``FCOSHead`` / ``LightMLFCOSHead``): ``cls_score_l`` ``(N, K, H_l,
  W_l)``, ``bbox_pred_l`` ``(N, 4, H_l, W_l)`` (distances, times the stride
  as in eval mode), ``centerness_l`` ``(N, 1, H_l, W_l)``;
- GFL (``GFLHead`` / ``LightMLGFLHead``): ``cls_score_l`` ``(N, K, H_l,
  W_l)``, ``bbox_pred_l`` ``(N, 4*(reg_max+1), H_l, W_l)``.

Prior generation, box decoding, score thresholding and NMS are not in the
graph: :class:`~mmkd_dense.deployment.ORTDetector` feeds the runtime's
outputs to the head's own ``predict_by_feat`` (mmdet), exactly as
``head.predict`` does with the PyTorch outputs.
"""
import json
import os
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

__all__ = [
    'SUPPORTED_HEADS', 'head_output_groups', 'check_exportable',
    'RawHeadOutputs', 'export_onnx', 'check_onnx', 'read_onnx_metadata',
    'UnsupportedModelError', 'METADATA_PREFIX'
]

#: Key prefix of the ONNX ``metadata_props`` written by :func:`export_onnx`.
METADATA_PREFIX = 'mmkd_dense.'


class UnsupportedModelError(ValueError):
    """The detector cannot be exported by this path."""


def _supported_heads() -> Dict[str, Tuple[type, Tuple[str, ...]]]:
    from mmdet.models.dense_heads import FCOSHead, GFLHead, RetinaHead
    return {
        'RetinaHead': (RetinaHead, ('cls_score', 'bbox_pred')),
        'FCOSHead': (FCOSHead, ('cls_score', 'bbox_pred', 'centerness')),
        'GFLHead': (GFLHead, ('cls_score', 'bbox_pred')),
    }


#: Head families whose raw outputs are exported (subclasses included, e.g.
#: ``mmkd_dense.LightMLGFLHead``).
SUPPORTED_HEADS = ('RetinaHead', 'FCOSHead', 'GFLHead')


def head_output_groups(head: nn.Module) -> Tuple[str, ...]:
    """Names of the per-level output groups of a supported dense head, in
    the order of ``head.forward`` and ``head.predict_by_feat``."""
    for _, (cls, groups) in _supported_heads().items():
        if isinstance(head, cls):
            return groups
    raise UnsupportedModelError(
        f'head {type(head).__name__} is not supported for ONNX export; '
        f'supported: {", ".join(SUPPORTED_HEADS)} and their subclasses '
        '(e.g. mmkd_dense.LightMLGFLHead).')


def check_exportable(detector: nn.Module) -> Tuple[str, ...]:
    """Raise :class:`UnsupportedModelError` unless ``detector`` is a
    single-stage detector with a supported head.

    Returns:
        tuple[str]: the head's output groups.
    """
    from mmdet.models.detectors import SingleStageDetector
    head = getattr(detector, 'bbox_head', None)
    if getattr(detector, 'roi_head', None) is not None or not isinstance(
            detector, SingleStageDetector) or head is None:
        raise UnsupportedModelError(
            f'{type(detector).__name__} is not a single-stage detector: '
            'only the raw outputs of a dense head (RetinaNet, FCOS, GFL) '
            'are exported. Two-stage detectors (Faster R-CNN) need the RoI '
            'stage (proposal NMS + RoIAlign) inside the graph, which this '
            'exporter does not provide; see docs/deployment.md.')
    return head_output_groups(head)


class RawHeadOutputs(nn.Module):
    """``detector(inputs, mode='tensor')`` flattened to a tuple of tensors.

    Args:
        detector (nn.Module): a single-stage mmdet detector.

    Forward:
        inputs (Tensor): ``(N, 3, H, W)`` preprocessed images.

    Returns:
        tuple[Tensor]: group-major, level-minor outputs (``cls_score_0``,
        ..., ``cls_score_{L-1}``, ``bbox_pred_0``, ...).
    """

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        outs = self.detector._forward(inputs)
        return tuple(t for group in outs for t in group)


def _output_names(groups: Sequence[str], num_levels: int) -> List[str]:
    return [f'{g}_{lvl}' for g in groups for lvl in range(num_levels)]


def export_onnx(detector: nn.Module,
                out: str,
                input_size: Tuple[int, int],
                dynamic: bool = False,
                opset: int = 17,
                extra_metadata: Optional[Dict[str, str]] = None) -> Dict:
    """Write the detector's raw head outputs as an ONNX model.

    Uses torch's TorchScript-based exporter (``dynamo=False``): in torch
    2.13 the default (dynamo) exporter needs the ``onnxscript`` package
    and traces through ``torch.export``; the TorchScript exporter handles
    these convolutional graphs directly and needs only ``onnx``.

    Args:
        detector (nn.Module): a single-stage detector in eval mode.
        out (str): the ``.onnx`` path to write.
        input_size (tuple[int, int]): ``(H, W)`` of the traced input (and
            the fixed input size unless ``dynamic``).
        dynamic (bool): batch size, height and width become dynamic axes.
        opset (int): ONNX opset version.
        extra_metadata (dict, optional): more ``metadata_props`` entries.

    Returns:
        dict: ``out``, ``output_names``, ``groups``, ``num_levels``,
        ``input_size``, ``dynamic``.
    """
    import onnx
    groups = check_exportable(detector)
    detector.eval()
    wrapper = RawHeadOutputs(detector).eval()
    height, width = (int(v) for v in input_size)
    dummy = torch.zeros(1, 3, height, width)
    with torch.no_grad():
        num_levels = len(wrapper(dummy)) // len(groups)
    names = _output_names(groups, num_levels)
    dynamic_axes = None
    if dynamic:
        dynamic_axes = {'input': {0: 'batch', 2: 'height', 3: 'width'}}
        for name in names:
            dynamic_axes[name] = {0: 'batch', 2: f'{name}_h', 3: f'{name}_w'}
    os.makedirs(osp.dirname(osp.abspath(out)) or '.', exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter('ignore')  # tracer / deprecation chatter
        torch.onnx.export(
            wrapper, (dummy, ), out, input_names=['input'],
            output_names=names, opset_version=opset,
            dynamic_axes=dynamic_axes, do_constant_folding=True,
            dynamo=False)
    head = detector.bbox_head
    metadata = {
        'head': type(head).__name__,
        'detector': type(detector).__name__,
        'groups': json.dumps(list(groups)),
        'num_levels': str(num_levels),
        'num_classes': str(getattr(head, 'num_classes', -1)),
        'input_size': json.dumps([height, width]),
        'dynamic': json.dumps(bool(dynamic)),
    }
    metadata.update(extra_metadata or {})
    model = onnx.load(out)
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = METADATA_PREFIX + key, str(value)
    onnx.save(model, out)
    check_onnx(out)
    return dict(out=out, output_names=names, groups=groups,
                num_levels=num_levels, input_size=(height, width),
                dynamic=bool(dynamic))


def check_onnx(path: str) -> None:
    """``onnx.checker.check_model`` on the file (full check, shapes too)."""
    import onnx
    onnx.checker.check_model(path, full_check=True)


def read_onnx_metadata(path: str) -> Dict[str, object]:
    """The ``mmkd_dense.*`` metadata written by :func:`export_onnx`
    (JSON values decoded); empty for a foreign ONNX file."""
    import onnx
    model = onnx.load(path, load_external_data=False)
    meta: Dict[str, object] = {}
    for entry in model.metadata_props:
        if not entry.key.startswith(METADATA_PREFIX):
            continue
        key = entry.key[len(METADATA_PREFIX):]
        try:
            meta[key] = json.loads(entry.value)
        except ValueError:
            meta[key] = entry.value
    return meta
