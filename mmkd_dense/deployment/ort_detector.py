# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Run an exported student with onnxruntime and mmdet's post-processing."""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .onnx_export import head_output_groups, read_onnx_metadata

__all__ = ['ORTDetector', 'default_providers', 'make_session']


def default_providers() -> List[str]:
    """CUDA first when onnxruntime has it, then CPU."""
    import onnxruntime as ort
    available = ort.get_available_providers()
    return [p for p in ('CUDAExecutionProvider', 'CPUExecutionProvider')
            if p in available]


def make_session(path: str,
                 providers: Optional[Sequence[str]] = None,
                 threads: int = 0):
    """An ``onnxruntime.InferenceSession`` (all graph optimisations;
    ``threads`` > 0 sets intra-op threads, 0 lets onnxruntime choose)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = \
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if threads > 0:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(path, sess_options=options,
                                providers=list(providers
                                               or default_providers()))


class ORTDetector:
    """An exported student (raw head outputs) plus the PyTorch student's
    data preprocessor and head post-processing.

    ``test_step(data)`` mirrors ``BaseDetector.test_step``: the model's own
    ``data_preprocessor`` makes the batch, onnxruntime runs backbone, neck
    and head, and ``bbox_head.predict_by_feat`` (the head's mmdet
    post-processing with its ``test_cfg``: priors, decoding, score
    threshold, NMS, rescale to the original image) turns the outputs into
    ``pred_instances``.

    Args:
        onnx_path (str): a model written by
            :func:`~mmkd_dense.deployment.export_onnx`.
        detector (nn.Module): the student built from its config (weights
            are not used: only the data preprocessor, prior generator,
            box coder and ``test_cfg``).
        providers (Sequence[str], optional): onnxruntime providers.
        threads (int): onnxruntime intra-op threads (0: its default).

    Raises:
        ValueError: the ONNX model's head, number of levels or channels do
            not match the detector of the config.
    """

    def __init__(self, onnx_path: str, detector: nn.Module,
                 providers: Optional[Sequence[str]] = None,
                 threads: int = 0) -> None:
        self.onnx_path = onnx_path
        self.detector = detector.eval()
        self.head = detector.bbox_head
        self.groups = head_output_groups(self.head)
        self.meta = read_onnx_metadata(onnx_path)
        self.session = make_session(onnx_path, providers, threads)
        self._check_against_config()
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.static_shape = None
        if all(isinstance(d, int) for d in inp.shape):
            self.static_shape = tuple(inp.shape)  # (N, 3, H, W)

    def _check_against_config(self) -> None:
        head_name = type(self.head).__name__
        meta_head = self.meta.get('head')
        where = f'ONNX model "{self.onnx_path}"'
        if meta_head is not None and meta_head != head_name:
            raise ValueError(
                f'{where} was exported from a {meta_head} student but the '
                f'config builds a {head_name}; pass the config of the '
                'exported student.')
        outputs = self.session.get_outputs()
        if len(outputs) % len(self.groups):
            raise ValueError(
                f'{where} has {len(outputs)} outputs, not a multiple of the '
                f'{len(self.groups)} output groups {self.groups} of '
                f'{head_name}; pass the config of the exported student.')
        self.num_levels = len(outputs) // len(self.groups)
        expected_levels = len(self.head.prior_generator.strides)
        if self.num_levels != expected_levels:
            raise ValueError(
                f'{where} has {self.num_levels} FPN levels, the config\'s '
                f'{head_name} has {expected_levels}; pass the config of '
                'the exported student.')
        cls_channels = outputs[0].shape[1]
        expected = self.head.cls_out_channels * getattr(
            self.head, 'num_base_priors', 1)
        if isinstance(cls_channels, int) and cls_channels != expected:
            raise ValueError(
                f'{where} predicts {cls_channels} class channels per '
                f'position, the config\'s {head_name} {expected} '
                f'(num_classes={self.head.num_classes}); pass the config of '
                'the exported student.')

    # ------------------------------------------------------------ running
    def _run_onnx(self, inputs: Tensor) -> List[np.ndarray]:
        feed = {self.input_name: np.ascontiguousarray(
            inputs.detach().cpu().numpy().astype(np.float32))}
        return self.session.run(None, feed)

    def raw_outputs(self, inputs: Tensor) -> Tuple[List[Tensor], ...]:
        """Run the graph on a preprocessed batch.

        Args:
            inputs (Tensor): ``(N, 3, H, W)`` as made by the detector's
                ``data_preprocessor``. A fixed-size model (exported without
                ``--dynamic``) runs one image at a time, zero-padded at the
                bottom/right to its size (as the preprocessor pads).

        Returns:
            tuple[list[Tensor]]: per output group, per level ``(N, C, H_l,
            W_l)`` tensors, like ``detector(inputs, mode='tensor')``.
        """
        if self.static_shape is None:
            flat = [torch.from_numpy(o) for o in self._run_onnx(inputs)]
        else:
            _, _, height, width = self.static_shape
            h, w = inputs.shape[-2:]
            if h > height or w > width:
                raise ValueError(
                    f'input batch {h}x{w} is larger than the fixed input '
                    f'size {height}x{width} of "{self.onnx_path}"; export '
                    'with --dynamic or a larger --input-size.')
            per_image = []
            for img in inputs:
                img = F.pad(img[None], (0, width - w, 0, height - h),
                            value=float(getattr(self.detector
                                                .data_preprocessor,
                                                'pad_value', 0)))
                per_image.append(self._run_onnx(img))
            flat = [torch.from_numpy(np.concatenate(parts, 0))
                    for parts in zip(*per_image)]
        n = self.num_levels
        return tuple(flat[g * n:(g + 1) * n] for g in range(len(self.groups)))

    def predict(self, inputs: Tensor, data_samples: list,
                rescale: bool = True) -> list:
        """``detector.predict`` with the graph in place of the network."""
        outs = self.raw_outputs(inputs)
        metas = [s.metainfo for s in data_samples]
        with torch.no_grad():
            results = self.head.predict_by_feat(
                *outs, batch_img_metas=metas, rescale=rescale)
        return self.detector.add_pred_to_datasample(data_samples, results)

    def test_step(self, data: Dict) -> list:
        """``BaseDetector.test_step`` equivalent: preprocess, run, post."""
        with torch.no_grad():
            data = self.detector.data_preprocessor(data, False)
        return self.predict(data['inputs'], data['data_samples'])
