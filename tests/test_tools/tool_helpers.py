# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Shared fixtures of the tool tests: load a tool script as a module and
make small runnable copies of the demo configs."""
import copy
import importlib.util
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_KD = osp.join(REPO_ROOT, 'configs', 'demo',
                   'fgd_fpn_retina-r18c32_retina-r18c16_12e_digits.py')

__all__ = ['REPO_ROOT', 'DEMO_KD', 'load_tool', 'make_small_demo_configs']


def load_tool(rel_path: str):
    """Import ``tools/...py`` as a module (its ``main(argv)`` is callable)."""
    path = osp.join(REPO_ROOT, rel_path)
    tool_dir = osp.dirname(path)
    if tool_dir not in sys.path:
        sys.path.insert(0, tool_dir)
    name = 'tool_' + osp.splitext(osp.basename(path))[0]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _pipelines(image_size):
    load = [dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(type='Resize', scale=image_size, keep_ratio=True)]
    train = load + [dict(type='PackDetInputs')]
    test = load + [dict(type='PackDetInputs',
                        meta_keys=('img_id', 'img_path', 'ori_shape',
                                   'img_shape', 'scale_factor'))]
    return train, test


def make_small_demo_configs(tmp_dir: str, num_train: int = 8,
                            num_val: int = 4, image_size: int = 64,
                            max_epochs: int = 1):
    """A tiny digits data set and runnable copies of the demo teacher and
    FGD configs (1 epoch, batch 4, explicit Resize in both pipelines).

    Returns:
        dict: ``data_root``, ``teacher`` and ``kd`` config paths.
    """
    from mmengine.config import Config

    from mmkd_dense.demo.digits import generate_digits_dataset
    data_root = osp.join(tmp_dir, 'digits') + '/'
    generate_digits_dataset(data_root, num_train=num_train, num_val=num_val,
                            image_size=image_size, num_range=(2, 4),
                            scale_range=(10, 20))
    train_pipe, test_pipe = _pipelines((image_size, image_size))
    kd = Config.fromfile(DEMO_KD)
    teacher_file = osp.join(REPO_ROOT, kd.model.teacher.cfg_file)
    paths = {}
    for name, cfg in (('teacher', Config.fromfile(teacher_file)),
                      ('kd', kd)):
        cfg = copy.deepcopy(cfg)
        cfg.data_root = data_root
        for key, pipe in (('train_dataloader', train_pipe),
                          ('val_dataloader', test_pipe),
                          ('test_dataloader', test_pipe)):
            cfg[key].batch_size = 4
            cfg[key].dataset.data_root = data_root
            cfg[key].dataset.pipeline = pipe
        for key in ('val_evaluator', 'test_evaluator'):
            cfg[key].ann_file = data_root + 'annotations/instances_val.json'
        cfg.train_cfg.max_epochs = max_epochs
        cfg.train_cfg.val_interval = max_epochs + 1
        cfg.default_hooks.checkpoint.interval = max_epochs
        cfg.default_hooks.logger.interval = 1
        if name == 'kd':
            cfg.model.teacher.cfg_file = paths['teacher']
        paths[name] = osp.join(tmp_dir, f'{name}_small.py')
        cfg.dump(paths[name])
    paths['data_root'] = data_root
    return paths
