# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Helpers for tests: tiny COCO data, shrunk configs, dummy train steps.

Used by ``tests/`` and by the config checks of every method; nothing here
downloads anything.
"""
import copy
import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmkd_dense.utils.pretrained import disable_imagenet_init

__all__ = [
    'make_tiny_coco', 'shrink_config', 'build_model_from_cfg',
    'run_dummy_train_steps', 'COCO_CLASSES_FIRST',
    'make_torchvision_resnet_state_dict'
]

#: The first COCO category names with their ids in :func:`make_tiny_coco`.
COCO_CLASSES_FIRST = [('person', 1), ('bicycle', 2), ('car', 3),
                      ('motorcycle', 4), ('airplane', 5)]


def _coco_class_names() -> Tuple[str, ...]:
    from mmdet.datasets import CocoDataset
    return tuple(CocoDataset.METAINFO['classes'])


def make_tiny_coco(root: str,
                   num_images: int = 4,
                   image_size: Tuple[int, int] = (96, 128),
                   splits: Sequence[str] = ('train', 'val'),
                   categories: Sequence[Tuple[str, int]] = tuple(
                       COCO_CLASSES_FIRST[:3]),
                   empty_image: bool = True,
                   seed: int = 0,
                   class_names: Optional[Sequence[str]] = None
                   ) -> Dict[str, str]:
    """Write a tiny COCO-format dataset: ``<root>/<split>/*.jpg`` and
    ``<root>/annotations/instances_<split>.json``.

    Boxes are drawn as filled rectangles so a detector can learn them. With
    ``empty_image`` the last image of each split has no annotation. The json
    lists every name of ``class_names`` (default: the 80 COCO classes, ids
    1..80) so that CocoMetric can map any predicted label; annotations use
    only ``categories`` (name, id) pairs.

    Returns:
        dict: split -> annotation file path.
    """
    import cv2
    if class_names is None:
        class_names = _coco_class_names()
    all_categories = [dict(id=i + 1, name=n) for i, n in enumerate(class_names)]
    rng = np.random.RandomState(seed)
    height, width = image_size
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    ann_files = {}
    for split in splits:
        os.makedirs(osp.join(root, split), exist_ok=True)
        images, anns = [], []
        for i in range(num_images):
            img = (rng.rand(height, width, 3) * 60).astype(np.uint8)
            name = f'{split}_{i:04d}.jpg'
            images.append(
                dict(id=i + 1, file_name=name, height=height, width=width))
            num_boxes = 0 if (empty_image and i == num_images - 1) else \
                rng.randint(1, 4)
            for _ in range(num_boxes):
                w = rng.randint(12, width // 2)
                h = rng.randint(12, height // 2)
                x = rng.randint(0, width - w)
                y = rng.randint(0, height - h)
                cat_name, cat_id = categories[rng.randint(len(categories))]
                color = [int(c) for c in rng.randint(120, 255, 3)]
                cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), color, -1)
                anns.append(
                    dict(id=len(anns) + 1, image_id=i + 1,
                         category_id=cat_id, bbox=[x, y, w, h],
                         area=float(w * h), iscrowd=0))
            cv2.imwrite(osp.join(root, split, name), img)
        ann_file = osp.join(root, 'annotations', f'instances_{split}.json')
        with open(ann_file, 'w') as f:
            json.dump(
                dict(images=images, annotations=anns,
                     categories=all_categories),
                f)
        ann_files[split] = ann_file
    return ann_files


def shrink_config(cfg,
                  data_root: str,
                  work_dir: str,
                  image_scale: Tuple[int, int] = (128, 96),
                  max_iters: int = 2,
                  batch_size: int = 2,
                  num_classes: Optional[int] = None):
    """Point a COCO-format config at :func:`make_tiny_coco` data and make it
    run ``max_iters`` training iterations on CPU.

    The model, losses and distiller are left exactly as configured.
    ``num_classes`` (if given) is set on every head of the student and
    teacher dicts that has one (a teacher or student given as
    ``dict(cfg_file=...)`` is expanded first). Every backbone (student,
    teacher, amplifier) starts from random initialisation: the ImageNet
    ``Pretrained`` inits of paper configs are switched off, so tests never
    need (or download) the weight files.
    """
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    for split, loader_key in (('train', 'train_dataloader'),
                              ('val', 'val_dataloader'),
                              ('val', 'test_dataloader')):
        loader = cfg[loader_key]
        loader.batch_size = batch_size if split == 'train' else 1
        loader.num_workers = 0
        loader.persistent_workers = False
        loader.pop('batch_sampler', None)
        dataset = loader.dataset
        while 'dataset' in dataset:  # RepeatDataset / ClassBalancedDataset
            dataset = dataset.dataset
        dataset.data_root = data_root
        dataset.ann_file = f'annotations/instances_{split}.json'
        dataset.data_prefix = dict(img=f'{split}/')
        dataset.pop('filter_cfg', None)
        for step in dataset.pipeline:
            if step['type'] in ('Resize', 'RandomResize', 'RandomChoiceResize'):
                step.pop('scales', None)
                step['type'] = 'Resize'
                step['scale'] = image_scale
                step['keep_ratio'] = True
    for key in ('val_evaluator', 'test_evaluator'):
        evaluator = cfg[key]
        for ev in (evaluator if isinstance(evaluator, list) else [evaluator]):
            if 'ann_file' in ev:
                ev.ann_file = osp.join(data_root,
                                       'annotations/instances_val.json')
    loop = cfg.train_cfg
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                         val_interval=max_iters)
    del loop
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
             end=max_iters)
    ]
    cfg.default_hooks.checkpoint = dict(
        type=cfg.default_hooks.get('checkpoint', {}).get(
            'type', 'CheckpointHook'),  # keep the configured (safe) hook
        interval=max_iters, by_epoch=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.log_processor = dict(type='LogProcessor', window_size=1,
                             by_epoch=False)
    cfg.default_hooks.pop('visualization', None)
    if cfg.get('visualizer'):
        # a named visualizer is a process-wide singleton; unnamed, each
        # Runner gets its own (so consecutive runs in one process log to
        # their own work dirs)
        cfg.visualizer.pop('name', None)
    cfg.env_cfg = dict(cudnn_benchmark=False,
                       mp_cfg=dict(mp_start_method='fork',
                                   opencv_num_threads=0),
                       dist_cfg=dict(backend='gloo'))
    if num_classes is not None:
        _expand_cfg_file_models(cfg.model)
        set_num_classes(cfg.model, num_classes)
    # random init on purpose: tests must not need the ImageNet files
    disable_imagenet_init(cfg.model)
    return cfg


def _expand_cfg_file_models(model_cfg) -> None:
    """Replace ``teacher`` / ``architecture`` given as
    ``dict(cfg_file=...)`` by the model dict they name (so that
    :func:`set_num_classes` reaches them)."""
    from mmkd_dense.models.algorithms.gt_aware_distill import \
        resolve_detector_cfg
    for key in ('teacher', 'architecture'):
        sub = model_cfg.get(key)
        if isinstance(sub, dict) and 'cfg_file' in sub:
            model_cfg[key] = resolve_detector_cfg(sub, key=f'model.{key}')


def set_num_classes(model_cfg, num_classes: int) -> None:
    """Set ``num_classes`` on every (nested) dict that has the key."""
    if isinstance(model_cfg, dict):
        for key, value in model_cfg.items():
            if key == 'num_classes':
                model_cfg[key] = num_classes
            else:
                set_num_classes(value, num_classes)
    elif isinstance(model_cfg, list):
        for value in model_cfg:
            set_num_classes(value, num_classes)


def build_model_from_cfg(cfg, drop_teacher_ckpt: bool = True,
                         imagenet_init: bool = False):
    """Build ``cfg.model`` under the config's default scope (importing the
    config's custom imports); optionally ignore ``teacher_ckpt``.

    Unless ``imagenet_init``, the ImageNet ``Pretrained`` inits of paper
    configs are switched off, so ``model.init_weights()`` reads no file.
    """
    from mmengine.registry import MODELS, DefaultScope, init_default_scope
    model_cfg = copy.deepcopy(cfg.model)
    if not imagenet_init:
        disable_imagenet_init(model_cfg)  # random init on purpose (tests)
    if drop_teacher_ckpt and 'teacher_ckpt' in model_cfg:
        model_cfg.teacher_ckpt = None
        if str(model_cfg.get('type', '')).endswith('GTAwareDistill'):
            model_cfg.allow_random_teacher = True  # on purpose (tests)
    scope = cfg.get('default_scope', 'mmdet')
    if DefaultScope.get_current_instance() is None:
        init_default_scope(scope)
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(model_cfg)


def run_dummy_train_steps(model,
                          num_steps: int = 2,
                          input_shape: Tuple[int, int] = (128, 160),
                          num_classes: int = 80,
                          boxes_per_image: Sequence[int] = (3, 0),
                          lr: float = 1e-3) -> List[Dict[str, float]]:
    """Run ``num_steps`` SGD steps of ``model.loss`` on synthetic batches
    (one image has GT, one has none by default).

    Returns:
        list[dict]: per step, each loss name -> float; raises if a loss is
        not finite.
    """
    import torch

    from mmkd_dense.utils.dummy_batch import make_dummy_batch
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9)
    history = []
    for step in range(num_steps):
        inputs, samples = make_dummy_batch(
            input_shape=input_shape, num_classes=num_classes,
            boxes_per_image=boxes_per_image, seed=step)
        losses = model.loss(inputs, samples)
        total, record = 0., {}
        for name, value in losses.items():
            value = sum(value) if isinstance(value, (list, tuple)) else value
            if 'loss' in name:
                total = total + value
            record[name] = float(value.detach())
            if not torch.isfinite(value).all():
                raise FloatingPointError(f'{name} is not finite: {value}')
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append(record)
    return history


def make_torchvision_resnet_state_dict(depth: int = 18,
                                       seed: int = 0) -> Dict[str, Any]:
    """A random ResNet state dict with torchvision's key names (what
    ``resnet{depth}-*.pth`` holds), for tests of the loading path.

    mmdet's pytorch-style ResNet uses torchvision's module names
    (``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer1.0.downsample.0``,
    ...); torchvision adds the ImageNet classifier ``fc`` (1000 classes).
    """
    import torch
    from mmdet.models.backbones import ResNet
    torch.manual_seed(seed)
    net = ResNet(depth=depth)
    net.init_weights()
    state = {k: v.clone() for k, v in net.state_dict().items()
             if not k.endswith('num_batches_tracked')}
    for k, v in state.items():
        if 'running_var' in k:
            state[k] = v.uniform_(0.5, 1.5)
        elif 'running_mean' in k or ('bn' in k and k.endswith('bias')):
            state[k] = v.normal_(0, 0.1)
    channels = 512 * (1 if depth < 50 else 4)
    state['fc.weight'] = torch.randn(1000, channels) * 0.01
    state['fc.bias'] = torch.zeros(1000)
    return state
