# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Helpers shared by the scripts in ``tools/analysis_tools``.

They work on any distillation config of this repository (an mmrazor
``SingleTeacherDistill``/``FpnTeacherDistill`` or ``GTAwareDistill``
algorithm) and on plain mmdet detector configs, without knowing the method.
"""
import copy
import glob
import os
import os.path as osp
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

#: the checkout whose ``mmkd_dense`` and ``configs/`` are used: this one,
#: or ``$MMKD_DENSE_REPO`` (set by ``benchmark_distill.py --repo``)
REPO_ROOT = os.environ.get('MMKD_DENSE_REPO') or osp.dirname(
    osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import mmkd_dense  # noqa: E402,F401  (compat shims before mmrazor imports)
import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from torch import Tensor, nn  # noqa: E402

__all__ = [
    'REPO_ROOT', 'METHOD_DIRS', 'load_config', 'build_model',
    'is_distill_model', 'get_student', 'get_teacher', 'get_distiller',
    'infer_num_classes', 'teacher_forward_fn', 'teacher_forward_mode',
    'make_batch', 'sum_losses', 'method_of', 'pair_of', 'dataset_of',
    'find_suite_configs', 'count_params', 'resolve_path', 'deep_replace',
    'env_summary', 'drop_missing_checkpoints'
]

#: Folders searched by suite modes, ours first, then the baselines.
METHOD_DIRS = ('configs/lsfi_mdc', 'configs/ds2d2', 'configs/cid_lightml',
               'configs/baselines/*')


def resolve_path(path: str) -> str:
    """``path`` as given if it exists, else relative to the repo root."""
    if osp.isabs(path) or osp.exists(path):
        return path
    candidate = osp.join(REPO_ROOT, path)
    return candidate if osp.exists(candidate) else path


def load_config(path: str, cfg_options: Optional[Dict] = None) -> Config:
    """Load a config file and merge dotted-key overrides."""
    cfg = Config.fromfile(resolve_path(path))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def drop_missing_checkpoints(model_cfg) -> List[str]:
    """Set every ``*_ckpt`` entry of a model config whose file does not
    exist to None (e.g. a DS2D2 ``amplifier_ckpt`` before stage 2 ran).

    Returns:
        list[str]: the dotted keys that were dropped.
    """
    dropped: List[str] = []

    def visit(node, prefix):
        if isinstance(node, dict):
            for key in list(node):
                value = node[key]
                path = f'{prefix}.{key}' if prefix else key
                if (key.endswith('_ckpt') and isinstance(value, str)
                        and '://' not in value
                        and not osp.isfile(resolve_path(value))):
                    node[key] = None
                    dropped.append(path)
                else:
                    visit(value, path)
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                visit(value, f'{prefix}[{i}]')

    visit(model_cfg, 'model')
    return dropped


def build_model(cfg: Config, device: str = 'cpu') -> nn.Module:
    """Build ``cfg.model`` on ``device`` without trained weights.

    The teacher checkpoint (and any other ``*_ckpt`` of the model config
    whose file is missing, e.g. a DS2D2 amplifier) is not loaded:
    benchmarks and FLOP counts do not need trained weights; tools that need
    them load a checkpoint explicitly afterwards. Backbones are switched to
    random init, so ``init_weights()`` reads no ImageNet file.
    """
    from mmkd_dense.testing import build_model_from_cfg
    from mmkd_dense.utils.pretrained import disable_imagenet_init
    cfg = copy.deepcopy(cfg)
    drop_missing_checkpoints(cfg.model)
    disable_imagenet_init(cfg.model)  # nor ImageNet files (init_weights)
    model = build_model_from_cfg(cfg)
    return model.to(device)


def is_distill_model(model: nn.Module) -> bool:
    """True for an mmrazor distillation algorithm (has a teacher)."""
    return hasattr(model, 'teacher') and hasattr(model, 'architecture')


def get_student(model: nn.Module) -> nn.Module:
    """The student detector of a distillation algorithm (or the model)."""
    return model.architecture if is_distill_model(model) else model


def get_teacher(model: nn.Module) -> Optional[nn.Module]:
    """The teacher detector, or None for a plain detector."""
    return model.teacher if is_distill_model(model) else None


def get_distiller(model: nn.Module) -> Optional[nn.Module]:
    """The distiller (connectors + losses), or None."""
    return getattr(model, 'distiller', None) if is_distill_model(
        model) else None


def infer_num_classes(detector: nn.Module, default: int = 80) -> int:
    """``num_classes`` of the detector's (first) head."""
    for name in ('bbox_head', 'roi_head'):
        head = getattr(detector, name, None)
        if head is None:
            continue
        for module in head.modules():
            value = getattr(module, 'num_classes', None)
            if isinstance(value, int):
                return value
    for module in detector.modules():
        value = getattr(module, 'num_classes', None)
        if isinstance(value, int):
            return value
    return default


def teacher_forward_mode(model: nn.Module) -> str:
    """How much of the teacher one distillation step runs.

    ``GTAwareDistill`` says it in ``teacher_forward``; mmrazor's
    ``FpnTeacherDistill`` runs ``extract_feat`` (``'feat'``); every other
    ``SingleTeacherDistill`` runs the teacher's ``loss`` forward.
    """
    mode = getattr(model, 'teacher_forward', None)
    if isinstance(mode, str):
        return mode
    if type(model).__name__ == 'FpnTeacherDistill':
        return 'feat'
    return 'loss'


def teacher_forward_fn(model: nn.Module, inputs: Tensor,
                       samples: list) -> Callable[[], None]:
    """A closure running the teacher exactly as the algorithm's step does
    (same mode, its recorders active), without gradients."""
    teacher = get_teacher(model)
    mode = teacher_forward_mode(model)
    distiller = get_distiller(model)

    def run() -> None:
        with torch.no_grad():
            if hasattr(model, '_run_teacher'):
                model._run_teacher(inputs, samples)
                return
            with distiller.teacher_recorders, distiller.deliveries:
                if mode == 'feat':
                    teacher.extract_feat(inputs)
                elif mode == 'tensor':
                    teacher(inputs, samples, mode='tensor')
                else:
                    teacher(inputs, samples, mode='loss')

    return run


def make_batch(batch_size: int, input_size: Tuple[int, int],
               num_classes: int, device: str, seed: int = 0,
               boxes_per_image: Sequence[int] = (4, 2)):
    """A synthetic preprocessed batch on ``device``
    (:func:`mmkd_dense.utils.dummy_batch.make_dummy_batch`)."""
    from mmkd_dense.utils.dummy_batch import make_dummy_batch
    inputs, samples = make_dummy_batch(
        num_images=batch_size, input_shape=tuple(input_size),
        num_classes=num_classes, boxes_per_image=boxes_per_image, seed=seed)
    return inputs.to(device), [s.to(device) for s in samples]


def sum_losses(losses: Dict) -> Tensor:
    """Sum every entry whose key contains ``loss`` (as mmengine does)."""
    total = None
    for name, value in losses.items():
        if 'loss' not in name:
            continue
        if isinstance(value, (list, tuple)):
            value = sum(value)
        total = value if total is None else total + value
    if total is None:
        raise ValueError(f'no loss in {list(losses)}')
    return total


def _stem(path: str) -> str:
    return osp.splitext(osp.basename(path))[0]


def method_of(path: str) -> str:
    """``{method}`` field of ``{method}_{location}_{teacher}_{student}_...``.
    """
    return _stem(path).split('_')[0]


def pair_of(path: str) -> str:
    """``{teacher}_{student}`` fields of a distillation config name."""
    parts = _stem(path).split('_')
    return '_'.join(parts[2:4]) if len(parts) >= 6 else ''


def dataset_of(path: str) -> str:
    """Last field (dataset) of a config name."""
    return _stem(path).split('_')[-1]


def find_suite_configs(pair: str, dataset: Optional[str] = None,
                       method_dirs: Sequence[str] = METHOD_DIRS
                       ) -> List[str]:
    """One config per method that distils ``pair`` (e.g.
    ``'retina-r101_retina-r50'``), ours first.

    Per method (first name field) the config on ``dataset`` is taken; a
    method that has no config for the pair on that dataset is represented
    by its config on another dataset (same networks, only the number of
    classes differs), so that every method is in the suite.

    Returns:
        list[str]: config paths relative to the repository root.
    """
    found: List[str] = []
    for pattern in method_dirs:
        for folder in sorted(glob.glob(osp.join(REPO_ROOT, pattern))):
            by_method: Dict[str, List[str]] = {}
            for path in sorted(glob.glob(osp.join(folder, '*.py'))):
                if pair_of(path) == pair:
                    by_method.setdefault(method_of(path), []).append(path)
            for paths in by_method.values():
                exact = [p for p in paths if dataset_of(p) == dataset]
                chosen = exact if exact or not dataset else paths[:1]
                if not dataset:
                    chosen = paths
                found += [osp.relpath(p, REPO_ROOT) for p in chosen]
    return found


def count_params(module: Optional[nn.Module],
                 trainable_only: bool = False) -> int:
    """Number of parameters (0 for None)."""
    if module is None:
        return 0
    return sum(p.numel() for p in module.parameters()
               if p.requires_grad or not trainable_only)


def deep_replace(obj, old: str, new: str):
    """Copy of a nested dict/list with every string equal to ``old``
    replaced by ``new`` (e.g. a checkpoint path used in several keys)."""
    if isinstance(obj, dict):
        return type(obj)({k: deep_replace(v, old, new)
                          for k, v in obj.items()})
    if isinstance(obj, (list, tuple)):
        return type(obj)(deep_replace(v, old, new) for v in obj)
    if isinstance(obj, str) and obj == old:
        return new
    return copy.copy(obj)


def env_summary(device: str) -> Dict:
    """Machine and library versions for benchmark records."""
    import platform

    import mmdet
    import mmengine
    import mmrazor
    info = dict(
        python=platform.python_version(), torch=torch.__version__,
        mmengine=mmengine.__version__, mmdet=mmdet.__version__,
        mmrazor=mmrazor.__version__, platform=platform.platform(),
        cpu=_cpu_name(), cpu_count=os.cpu_count(),
        torch_threads=torch.get_num_threads(), device=device)
    if device.startswith('cuda') and torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name(torch.device(device))
    return info


def _cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor()
