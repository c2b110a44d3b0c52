# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Deploying a distilled student: student extraction, ONNX export of the
raw head outputs, onnxruntime inference with mmdet's post-processing.

``onnx`` and ``onnxruntime`` are imported only by the functions that need
them (``requirements/deploy.txt``).
"""
from .checkpoint import (STUDENT_PREFIX, StudentCheckpointError,
                         extract_student_state_dict, load_distill_checkpoint,
                         load_student, student_config, student_state_dict)
from .onnx_export import (SUPPORTED_HEADS, RawHeadOutputs,
                          UnsupportedModelError, check_exportable,
                          check_onnx, export_onnx, head_output_groups,
                          read_onnx_metadata)
from .ort_detector import ORTDetector, default_providers, make_session

__all__ = [
    'STUDENT_PREFIX', 'StudentCheckpointError', 'extract_student_state_dict',
    'load_distill_checkpoint', 'load_student', 'student_config',
    'student_state_dict', 'SUPPORTED_HEADS', 'RawHeadOutputs',
    'UnsupportedModelError', 'check_exportable', 'check_onnx', 'export_onnx',
    'head_output_groups', 'read_onnx_metadata', 'ORTDetector',
    'default_providers', 'make_session'
]
