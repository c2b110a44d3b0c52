# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Strict teacher / amplifier checkpoint loading (issue 12): a checkpoint
that does not fit stops with the counts, the first keys, the config key and
a hint; a random teacher needs an opt-in; everything is logged into the run
log; the teacher checkpoint is opened once per run."""
import copy
import os
import os.path as osp
import tempfile
import unittest
from unittest import mock

import torch
from mmengine.config import Config

import mmkd_dense  # noqa: F401
from mmkd_dense.models.distillers import DistillConfigError
from mmkd_dense.testing import build_model_from_cfg
from mmkd_dense.utils import strict_loading
from mmkd_dense.utils.preflight import PreflightError, preflight_check
from mmkd_dense.utils.run_log import build_runner
from mmkd_dense.utils.strict_loading import (CheckpointLoadError,
                                             CheckpointMismatchError)
from ..test_runtime._helpers import (DEMO_STUDENT, DEMO_TEACHER, REPO,
                                     DemoDataCase)


def run_log(work_dir):
    """Text of the ``<work_dir>/<timestamp>/<timestamp>.log`` run log."""
    for root, _, files in os.walk(work_dir):
        for name in files:
            if name.endswith('.log'):
                with open(osp.join(root, name)) as f:
                    return f.read()
    raise AssertionError(f'no run log under {work_dir}')


class TestTeacherCheckpoint(DemoDataCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        student = build_model_from_cfg(Config.fromfile(DEMO_STUDENT))
        cls.student_ckpt = osp.join(cls.tmp.name, 'student.pth')
        torch.save(dict(state_dict=student.state_dict(), meta={}),
                   cls.student_ckpt)

    def build(self, cfg):
        return build_model_from_cfg(cfg, drop_teacher_ckpt=False)

    def test_student_checkpoint_as_teacher(self):
        # c16 student weights into the c32 teacher: same names, other shapes
        cfg = self.kd_cfg('wrong_teacher', **{
            'model.teacher_ckpt': self.student_ckpt})
        with self.assertRaises(CheckpointMismatchError) as ctx:
            self.build(cfg)
        msg = str(ctx.exception)
        num_keys = len(self.build_teacher_state())
        self.assertIn(f'model.teacher_ckpt="{self.student_ckpt}"', msg)
        self.assertIn('0 missing, 0 unexpected and ', msg)
        self.assertIn(f'(the model has {num_keys})', msg)
        # the first mis-shaped key with both shapes: conv1 16 vs 32 channels
        self.assertIn('backbone.conv1.weight: checkpoint [16, 3, 7, 7] vs '
                      'model [32, 3, 7, 7]', msg)
        self.assertIn('model.teacher.cfg_file', msg)
        # and the same through the preflight of tools/train.py
        with self.assertRaisesRegex(PreflightError, 'mis-shaped'):
            preflight_check(cfg)

    def build_teacher_state(self):
        return torch.load(self.teacher_ckpt)['state_dict']

    def test_distillation_checkpoint_as_teacher(self):
        kd = self.build(self.kd_cfg('kd_src'))
        path = osp.join(self.tmp.name, 'kd.pth')
        torch.save(dict(state_dict=kd.state_dict(), meta={}), path)
        with self.assertRaises(CheckpointMismatchError) as ctx:
            self.build(self.kd_cfg('kd_as_teacher',
                                   **{'model.teacher_ckpt': path}))
        msg = str(ctx.exception)
        n_teacher = len(self.build_teacher_state())
        self.assertIn(f'{n_teacher} missing, {len(kd.state_dict())} '
                      'unexpected and 0 mis-shaped', msg)
        self.assertIn("missing (first 5): ['backbone.conv1.weight'", msg)
        self.assertIn('distillation checkpoint', msg)
        self.assertIn('tools/model_converters/extract_student.py', msg)

    def test_text_file_as_teacher(self):
        path = osp.join(self.tmp.name, 'notes.txt')
        with open(path, 'w') as f:
            f.write('teacher: epoch_12.pth\n')
        cfg = self.kd_cfg('text', **{'model.teacher_ckpt': path})
        with self.assertRaises(CheckpointLoadError) as ctx:
            self.build(cfg)
        self.assertIn(f'model.teacher_ckpt="{path}" is not a PyTorch '
                      'checkpoint', str(ctx.exception))
        self.assertNotIn('pop from empty list', str(ctx.exception))
        # a pickle that holds no state dict
        torch.save([1, 2, 3], path)
        with self.assertRaisesRegex(CheckpointLoadError,
                                    'holds list, not a state dict'):
            self.build(cfg)

    def test_random_teacher_needs_opt_in(self):
        cfg = self.kd_cfg('no_teacher', **{'model.teacher_ckpt': None})
        with self.assertRaises(DistillConfigError) as ctx:
            self.build(cfg)
        self.assertIn('model.teacher_ckpt is not set', str(ctx.exception))
        self.assertIn('model.allow_random_teacher=True', str(ctx.exception))
        with self.assertRaisesRegex(PreflightError, 'allow_random_teacher'):
            preflight_check(cfg)
        # opted in: builds, and the warning is in the run log
        cfg.model.allow_random_teacher = True
        cfg.work_dir = osp.join(self.tmp.name, 'random_teacher_run')
        build_runner(cfg)
        log = run_log(cfg.work_dir)
        self.assertIn('WARNING', log)
        self.assertIn('model.teacher_ckpt is None and '
                      'model.allow_random_teacher=True', log)

    def test_loaded_once_strictly_and_logged(self):
        cfg = self.kd_cfg('read_once')
        cfg.work_dir = osp.join(self.tmp.name, 'read_once_run')
        calls = []
        real_load = torch.load

        def counting_load(f, *args, **kwargs):
            calls.append(osp.abspath(f) if isinstance(f, str) else f)
            return real_load(f, *args, **kwargs)

        with mock.patch.object(torch, 'load', counting_load):
            preflight_check(cfg)  # checks keys and shapes only
            runner = build_runner(cfg)  # loads
        self.assertEqual(calls.count(osp.abspath(self.teacher_ckpt)), 1)
        expected = self.build_teacher_state()
        for name, value in runner.model.teacher.state_dict().items():
            torch.testing.assert_close(value, expected[name])
        self.assertTrue(runner.model.teacher.is_init)
        self.assertIn(f'model.teacher_ckpt: loaded all {len(expected)} '
                      'tensors of the teacher', run_log(cfg.work_dir))


class TestClassCountMismatch(DemoDataCase):
    """Teacher 5 classes, student 10."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        teacher5 = Config.fromfile(DEMO_TEACHER)
        teacher5.model.bbox_head.num_classes = 5
        cls.teacher5_ckpt = osp.join(cls.tmp.name, 'teacher5.pth')
        torch.save(dict(state_dict=build_model_from_cfg(
            teacher5).state_dict()), cls.teacher5_ckpt)

    def cfg(self, name, **changes):
        changes = {'model.teacher.cfg_options': {'bbox_head.num_classes': 5},
                   'model.teacher_ckpt': self.teacher5_ckpt, **changes}
        return self.kd_cfg(name, **changes)

    def test_feature_kd_warns_in_run_log(self):
        cfg = self.cfg('cls5_fgd')
        preflight_check(cfg)  # FGD on FPN features only: allowed
        cfg.work_dir = osp.join(self.tmp.name, 'cls5_run')
        build_runner(cfg)
        log = run_log(cfg.work_dir)
        self.assertIn('model.teacher has 5 classes (its bbox_head.'
                      'num_classes) but model.architecture has 10', log)
        self.assertIn('teacher.* validation metrics are meaningless', log)

    def test_head_kd_is_an_error(self):
        cfg = self.cfg('cls5_tensor', **{'model.teacher_forward': 'tensor'})
        with self.assertRaises(DistillConfigError) as ctx:
            build_model_from_cfg(cfg, drop_teacher_ckpt=False)
        msg = str(ctx.exception)
        self.assertIn('model.teacher has 5 classes', msg)
        self.assertIn('model.architecture has 10', msg)


class TestAmplifierCheckpoint(unittest.TestCase):
    """DS2D2's HF-amplifier checkpoint is loaded strictly, too."""

    def test_mis_shaped_amplifier(self):
        amp_cfg_path = osp.join(REPO, 'configs/ds2d2/ds2d2_hf-amplifier_'
                                'retina-r18c32_12e_digits.py')
        amp_cfg = Config.fromfile(amp_cfg_path)
        other = copy.deepcopy(amp_cfg)
        other.model.detector.bbox_head.feat_channels = 16
        with self.subTest('a narrower head'):
            amp = build_model_from_cfg(other)
            state = amp.state_dict()
            with tempfile.TemporaryDirectory() as tmp:
                path = osp.join(tmp, 'amp.pth')
                torch.save(dict(state_dict=state), path)
                kd = Config.fromfile(osp.join(
                    REPO, 'configs/ds2d2/ds2d2_fpn_retina-r18c32_'
                    'retina-r18c16-fpn64_12e_digits.py'))
                kd.model.distiller.distill_losses.loss_ds2d2_hf.\
                    amplifier_ckpt = path
                with self.assertRaises(CheckpointMismatchError) as ctx:
                    build_model_from_cfg(kd)
        msg = str(ctx.exception)
        self.assertIn('model.distiller.distill_losses.loss_ds2d2_hf', msg)
        self.assertIn(f'amplifier_ckpt="{path}" does not fit the bbox_head',
                      msg)
        self.assertIn('mis-shaped', msg)
        self.assertIn('checkpoint [16, ', msg)


class TestReadStateDict(unittest.TestCase):

    def test_prefix_and_errors(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = osp.join(tmp, 'ddp.pth')
            torch.save({'state_dict': {'module.a': torch.ones(2)}}, path)
            state = strict_loading.read_state_dict(path, 'k')
            self.assertEqual(list(state), ['a'])
            with self.assertRaisesRegex(FileNotFoundError,
                                        'k=".*nope.pth" does not exist'):
                strict_loading.read_state_dict(osp.join(tmp, 'nope.pth'),
                                               'k')
            empty = osp.join(tmp, 'empty.pth')
            open(empty, 'w').close()
            with self.assertRaisesRegex(CheckpointLoadError,
                                        'is not a PyTorch checkpoint'):
                strict_loading.read_state_dict(empty, 'k')


if __name__ == '__main__':
    unittest.main()
