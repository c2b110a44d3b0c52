# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Detector references in configs: ``dict(cfg_file=..., cfg_options=...)``.

A neutral helper (mmengine only), used by the algorithm (teacher and
student), the HF amplifier detector and the amplifier heads of the DS2D2
losses, so none of them imports another's module.
"""
import os.path as osp
from typing import Any, Dict, Union

__all__ = ['resolve_detector_cfg', 'REPO_ROOT']

#: The mmkd_dense repository root (relative ``cfg_file`` paths are also
#: tried from here, so ``configs/...`` works from any working directory).
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def resolve_detector_cfg(model_cfg: Union[Any, Dict],
                         key: str) -> Union[Any, Dict]:
    """Expand ``dict(cfg_file=..., cfg_options=...)`` into a model dict.

    Relative paths are tried from the working directory, then from the
    mmkd_dense repository root (so ``configs/...`` works from anywhere).

    Args:
        model_cfg (dict | nn.Module): a model, a model dict or a reference
            ``dict(cfg_file='configs/detectors/...py', cfg_options={...})``.
        key (str): config key named in error messages.

    Returns:
        dict | nn.Module: the model dict to build (or the model as given).

    Raises:
        ValueError: keys other than ``cfg_file`` / ``cfg_options``.
        FileNotFoundError: ``cfg_file`` does not exist.
        KeyError: the file defines no ``model``.
    """
    if not isinstance(model_cfg, dict) or 'cfg_file' not in model_cfg:
        return model_cfg
    from mmengine.config import Config
    extra = set(model_cfg) - {'cfg_file', 'cfg_options'}
    if extra:
        raise ValueError(f'{key}: with cfg_file only cfg_options may be '
                         f'given, found {sorted(extra)}.')
    path = model_cfg['cfg_file']
    candidates = [path] if osp.isabs(path) else [
        path, osp.join(REPO_ROOT, path)
    ]
    found = next((p for p in candidates if osp.isfile(p)), None)
    if found is None:
        raise FileNotFoundError(
            f'{key}.cfg_file="{path}" not found (looked in {candidates}).')
    cfg = Config.fromfile(found)
    if 'model' not in cfg:
        raise KeyError(f'{key}.cfg_file="{path}" defines no `model`.')
    if model_cfg.get('cfg_options'):
        cfg.merge_from_dict(
            {f'model.{k}': v for k, v in model_cfg['cfg_options'].items()})
    return cfg.model
