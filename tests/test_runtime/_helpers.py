# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Shared pieces of the runtime tests."""
import contextlib
import importlib.util
import io
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import unittest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PY = sys.executable
DEMO_KD = osp.join(REPO, 'configs/demo/'
                   'fgd_fpn_retina-r18c32_retina-r18c16_12e_digits.py')
DEMO_TEACHER = osp.join(REPO,
                        'configs/demo/retinanet_r18c32_fpn_12e_digits.py')
DEMO_STUDENT = osp.join(REPO,
                        'configs/demo/retinanet_r18c16_fpn_12e_digits.py')


def set_teacher_ckpt(cfg, ckpt):
    """Set ``model.teacher_ckpt`` (the FGD/MGD student parts copied from the
    teacher follow it: ``model.student_init_from_teacher``)."""
    cfg.model.teacher_ckpt = ckpt
    return cfg


def set_key(obj, key, value):
    """Set every (nested) ``key`` of a config dict to ``value``."""
    if isinstance(obj, dict):
        for k in list(obj):
            if k == key:
                obj[k] = value
            else:
                set_key(obj[k], key, value)
    elif isinstance(obj, list):
        for v in obj:
            set_key(v, key, value)


def low_score_thr(cfg):
    """Random-init nets score below 0.05: keep every box so CocoMetric has
    results. Applies to the student and (through cfg_options) the teacher."""
    model = cfg.model
    set_key(model.get('architecture', model), 'score_thr', 0.0)
    teacher = model.get('teacher')
    if isinstance(teacher, dict) and 'cfg_file' in teacher:
        is_two_stage = 'faster' in teacher.cfg_file
        key = 'test_cfg.rcnn.score_thr' if is_two_stage else \
            'test_cfg.score_thr'
        teacher.cfg_options = dict(teacher.get('cfg_options') or {},
                                   **{key: 0.0})
    elif isinstance(teacher, dict):
        set_key(teacher, 'score_thr', 0.0)
    return cfg


def run_tool(args, timeout=900, cwd=REPO):
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    return subprocess.run([PY] + args, capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def read_scalars(work_dir):
    """All records of ``<work_dir>/<timestamp>/vis_data/scalars.json``."""
    records = []
    for root, _, files in os.walk(work_dir):
        if 'scalars.json' in files:
            with open(osp.join(root, 'scalars.json')) as f:
                records += [json.loads(line) for line in f if line.strip()]
    return records


_TOOLS = {}


def load_tool(name):
    """``tools/<name>.py`` as a module (its ``main(argv)`` runs the CLI in
    this process, without the seconds of imports a subprocess pays)."""
    if name not in _TOOLS:
        spec = importlib.util.spec_from_file_location(
            f'_mmkd_tool_{name}', osp.join(REPO, 'tools', f'{name}.py'))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _TOOLS[name] = module
    return _TOOLS[name]


def run_main(tool, argv, stdout=None):
    """Run ``tools/<tool>.py`` with ``argv`` in this process.

    Args:
        stdout (io.StringIO, optional): receives what it prints on stdout
            (the Runner's console log).

    Returns:
        tuple[int, str]: the exit code (0 when ``main`` returns) and what it
        wrote to stderr (a ``sys.exit('message')`` included).
    """
    err = io.StringIO()
    code = 0
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        with contextlib.redirect_stderr(err), \
                contextlib.redirect_stdout(stdout or sys.stdout):
            load_tool(tool).main(list(argv))
    except SystemExit as exc:
        if isinstance(exc.code, str):
            err.write(exc.code + '\n')
            code = 1
        else:
            code = exc.code or 0
    finally:
        os.chdir(cwd)
    return code, err.getvalue()


class DemoDataCase(unittest.TestCase):
    """Tiny digits data, a demo-teacher checkpoint and shrunk copies of the
    demo FGD config."""

    @classmethod
    def setUpClass(cls):
        import torch
        from mmengine.config import Config

        import mmkd_dense  # noqa: F401
        from mmkd_dense.demo import generate_digits_dataset
        from mmkd_dense.testing import build_model_from_cfg
        cls.tmp = tempfile.TemporaryDirectory()
        cls.data = osp.join(cls.tmp.name, 'digits')
        generate_digits_dataset(cls.data, num_train=8, num_val=2)
        teacher = build_model_from_cfg(Config.fromfile(DEMO_TEACHER))
        cls.teacher_ckpt = osp.join(cls.tmp.name, 'teacher.pth')
        torch.save(dict(state_dict=teacher.state_dict(), meta={}),
                   cls.teacher_ckpt)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def kd_cfg(self, name, **changes):
        """The shrunk demo FGD config (a Config), with dotted ``changes``."""
        from mmengine.config import Config

        from mmkd_dense.testing import shrink_config
        cfg = shrink_config(Config.fromfile(DEMO_KD), self.data,
                            osp.join(self.tmp.name, name + '_unused'),
                            image_scale=(128, 128))
        cfg.model.teacher_ckpt = self.teacher_ckpt
        for key, value in changes.items():
            cfg.merge_from_dict({key: value})
        return cfg

    def kd_config(self, name, **changes):
        """:meth:`kd_cfg` dumped to ``<tmp>/<name>.py``; returns the path."""
        cfg = self.kd_cfg(name, **changes)
        path = osp.join(self.tmp.name, name + '.py')
        cfg.dump(path)
        return path
