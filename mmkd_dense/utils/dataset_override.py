# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Move a config to another dataset with one edit: ``dataset_override``.

A distillation config has the class count in three places that mmengine's
inheritance cannot tie together: the student's head (from the student
detector config), the teacher's head (inside the teacher's ``cfg_file``)
and the data (dataloaders' ``metainfo`` and the evaluator's annotation
file). A child config sets, in ONE place::

    _base_ = ['../lsfi_mdc/lsfi-mdc_fpn_retina-r101_retina-r50_2x_coco.py']
    dataset_override = dict(
        classes=('car', 'truck', 'bus', 'van', 'person'),
        data_root='data/my5/')        # optional
    # optional per split: ann_file=dict(train='annotations/train.json',
    #     val='annotations/val.json', test='annotations/val.json')

and :func:`apply_dataset_override` (called by ``tools/train.py`` and
``tools/test.py`` right after the config is loaded) writes

* ``num_classes = len(classes)`` into every head of the student
  (``model.architecture``, or ``model`` for a plain detector), of the
  teacher (``model.teacher``; a ``dict(cfg_file=...)`` reference gets
  ``cfg_options`` for each ``num_classes`` its model has) and of every
  amplifier detector a loss names (``amplifier_cfg``);
* ``metainfo=dict(classes=classes)``, ``data_root`` and the per-split
  ``ann_file`` into the datasets of ``train/val/test_dataloader`` (through
  dataset wrappers such as ``RepeatDataset`` and ``ConcatDataset``);
* the new root (and per-split annotation file) into the ``ann_file`` of
  ``val_evaluator`` / ``test_evaluator``; the metric takes its class names
  from the dataset's ``metainfo``.

Applying it twice gives the same config.
"""
import os.path as osp
from typing import Any, Dict, Iterator, List, Optional, Tuple

from mmkd_dense.utils.detector_cfg import resolve_detector_cfg

__all__ = ['apply_dataset_override', 'num_classes_paths']

_SPLITS = ('train', 'val', 'test')


def num_classes_paths(node: Any, prefix: str = '') -> List[str]:
    """Dotted paths of every ``num_classes`` key in a (nested) dict."""
    paths: List[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            path = f'{prefix}.{key}' if prefix else str(key)
            if key == 'num_classes':
                paths.append(path)
            else:
                paths.extend(num_classes_paths(value, path))
    return paths


def _set_num_classes(node: Any, num_classes: int) -> None:
    if isinstance(node, dict):
        for key in list(node):
            if key == 'num_classes':
                node[key] = num_classes
            else:
                _set_num_classes(node[key], num_classes)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _set_num_classes(value, num_classes)


def _reference_with_classes(ref: Dict, num_classes: int, key: str) -> Dict:
    """``dict(cfg_file=..., cfg_options=...)`` with a ``cfg_options`` entry
    for each ``num_classes`` of the model the file defines."""
    model = resolve_detector_cfg(dict(ref), key)
    options = dict(ref.get('cfg_options') or {})
    paths = num_classes_paths(_plain(model))
    if not paths:
        raise ValueError(
            f'dataset_override: {key}.cfg_file="{ref["cfg_file"]}" has no '
            'num_classes in its model, so its classes cannot follow the '
            'dataset; give the model dict instead of cfg_file.')
    for path in paths:
        options[path] = num_classes
    out = dict(ref)
    out['cfg_options'] = options
    return out


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_plain(v) for v in node]
    return node


def _override_model(model: Dict, num_classes: int) -> None:
    """Student, teacher and amplifier detectors of ``model`` (in place)."""
    if 'architecture' in model or 'teacher' in model:
        for key in ('architecture', 'teacher'):
            sub = model.get(key)
            if isinstance(sub, dict) and 'cfg_file' in sub:
                model[key] = _reference_with_classes(sub, num_classes,
                                                     f'model.{key}')
            elif isinstance(sub, dict):
                _set_num_classes(sub, num_classes)
        losses = (model.get('distiller') or {}).get('distill_losses') or {}
        for name, loss in losses.items():
            amp = loss.get('amplifier_cfg') if isinstance(loss, dict) \
                else None
            key = f'model.distiller.distill_losses.{name}.amplifier_cfg'
            if isinstance(amp, str):
                loss['amplifier_cfg'] = _reference_with_classes(
                    dict(cfg_file=amp), num_classes, key)
            elif isinstance(amp, dict) and 'cfg_file' in amp:
                loss['amplifier_cfg'] = _reference_with_classes(
                    amp, num_classes, key)
            elif isinstance(amp, dict):
                _set_num_classes(amp, num_classes)
    else:  # a plain detector config
        _set_num_classes(model, num_classes)


def _datasets(node: Any) -> Iterator[Dict]:
    """The leaf dataset dicts below a dataloader's ``dataset`` (through
    ``dataset=`` / ``datasets=[...]`` wrappers)."""
    if not isinstance(node, dict):
        return
    if 'dataset' in node and isinstance(node['dataset'], dict):
        yield from _datasets(node['dataset'])
    elif isinstance(node.get('datasets'), (list, tuple)):
        for sub in node['datasets']:
            yield from _datasets(sub)
    else:
        yield node


def _check(override: Any) -> Tuple[Tuple[str, ...], Optional[str], Dict]:
    if not isinstance(override, dict):
        raise TypeError('dataset_override: expected dict(classes=(...), '
                        f'data_root=..., ann_file=...), found '
                        f'{type(override).__name__}.')
    unknown = set(override) - {'classes', 'data_root', 'ann_file'}
    if unknown:
        raise KeyError(f'dataset_override: unknown keys {sorted(unknown)}; '
                       'expected classes, data_root, ann_file.')
    classes = override.get('classes')
    if (not isinstance(classes, (list, tuple)) or not classes
            or not all(isinstance(c, str) for c in classes)):
        raise ValueError('dataset_override.classes: expected a non-empty '
                         f'list of class names, found {classes!r}.')
    if len(set(classes)) != len(classes):
        raise ValueError('dataset_override.classes: class names repeat: '
                         f'{list(classes)}.')
    root = override.get('data_root')
    if root is not None and not isinstance(root, str):
        raise TypeError('dataset_override.data_root: expected a path '
                        f'string, found {root!r}.')
    ann = override.get('ann_file') or {}
    if not isinstance(ann, dict) or set(ann) - set(_SPLITS):
        raise ValueError('dataset_override.ann_file: expected dict(train=, '
                         f'val=, test=) (any of them), found {ann!r}.')
    return tuple(classes), root, dict(ann)


def _join(root: Optional[str], path: str) -> str:
    return path if root is None or osp.isabs(path) else osp.join(root, path)


def apply_dataset_override(cfg) -> bool:
    """Apply ``cfg.dataset_override`` (see the module docstring) in place.

    Args:
        cfg (mmengine.Config | dict): a loaded config.

    Returns:
        bool: True when the config had a ``dataset_override``.

    Raises:
        TypeError, KeyError, ValueError: a malformed ``dataset_override``
            (the message names the key, what was expected and found).
    """
    override = cfg.get('dataset_override')
    if override is None:
        return False
    classes, root, ann = _check(override)
    num_classes = len(classes)
    if cfg.get('model') is not None:
        _override_model(cfg['model'], num_classes)
    for split in _SPLITS:
        loader = cfg.get(f'{split}_dataloader')
        if not isinstance(loader, dict):
            continue
        for dataset in _datasets(loader.get('dataset')):
            dataset['metainfo'] = dict(classes=classes)
            if root is not None:
                dataset['data_root'] = root
            if split in ann:
                dataset['ann_file'] = ann[split]
    for split in ('val', 'test'):
        evaluators = cfg.get(f'{split}_evaluator')
        items = evaluators if isinstance(evaluators, (list, tuple)) \
            else [evaluators]
        loader = cfg.get(f'{split}_dataloader') or {}
        leaves = list(_datasets(loader.get('dataset')))
        for metric in items:
            if not isinstance(metric, dict) or not metric.get('ann_file'):
                continue
            if split in ann:
                metric['ann_file'] = _join(root, ann[split])
            elif root is not None and leaves and leaves[0].get('ann_file'):
                metric['ann_file'] = _join(root, leaves[0]['ann_file'])
    return True

