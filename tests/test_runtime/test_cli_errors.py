# Copyright (c) mmkd_dense contributors. All rights reserved.
"""What a user meets at the command line (issue 12 part A, issue 11.6):
every bad case stops with exit code 1, a message naming the config key and
the fix, and nothing written; ``--resume`` without a checkpoint stops;
``--resume`` works when the teacher checkpoint was moved; ``tools/test.py``
refuses a checkpoint that does not fit the config; the distiller translates
errors into config hints only in the preflight; ``--help`` is fast.

Most cases call ``tools/<tool>.py``'s ``main(argv)`` in this process (the
same code as the command line, without paying the imports per case); one
case per tool runs the real command in a subprocess.
"""
import io
import os
import os.path as osp
import shutil
import subprocess
import unittest
from unittest import mock

import torch
from mmengine.config import Config

import mmkd_dense  # noqa: F401
from mmkd_dense.models.distillers import DistillConfigError
from mmkd_dense.testing import build_model_from_cfg, shrink_config
from ._helpers import (DEMO_STUDENT, DEMO_TEACHER, PY, REPO, DemoDataCase,
                       run_main, run_tool)


class TrainCLICase(DemoDataCase):

    def assert_refused(self, config, *fragments, extra=()):
        """``tools/train.py config`` exits 1 with ``fragments`` in stderr
        and does not create its work dir."""
        work_dir = osp.join(self.tmp.name, 'work_' + osp.basename(config))
        code, err = run_main('train',
                             [config, '--work-dir', work_dir, *extra])
        self.assertEqual(code, 1, err[-3000:])
        for fragment in fragments:
            self.assertIn(fragment, err)
        self.assertFalse(osp.exists(work_dir), 'the work dir was written')
        return err


class TestTrainRefusesBadTeacher(TrainCLICase):

    def test_student_checkpoint_as_teacher_cli(self):
        """The real command: c16 student weights as the c32 teacher."""
        student = build_model_from_cfg(Config.fromfile(DEMO_STUDENT))
        path = osp.join(self.tmp.name, 'student.pth')
        torch.save(dict(state_dict=student.state_dict()), path)
        config = self.kd_config('student_as_teacher',
                                **{'model.teacher_ckpt': path})
        work_dir = osp.join(self.tmp.name, 'work_student_as_teacher')
        proc = run_tool(['tools/train.py', config, '--work-dir', work_dir])
        self.assertEqual(proc.returncode, 1, proc.stderr[-3000:])
        self.assertIn(f'model.teacher_ckpt="{path}" does not fit the '
                      'teacher', proc.stderr)
        self.assertRegex(proc.stderr, r'0 missing, 0 unexpected and \d+ '
                         r'mis-shaped key\(s\)')
        self.assertIn('nothing was written', proc.stderr)
        self.assertNotIn('Traceback', proc.stderr)
        self.assertFalse(osp.exists(work_dir))

    def test_bad_teacher_checkpoints(self):
        kd = build_model_from_cfg(self.kd_cfg('kd_src'))
        kd_ckpt = osp.join(self.tmp.name, 'kd.pth')
        torch.save(dict(state_dict=kd.state_dict()), kd_ckpt)
        text = osp.join(self.tmp.name, 'teacher.txt')
        with open(text, 'w') as f:
            f.write('not a checkpoint\n')
        with self.subTest('distillation checkpoint as teacher'):
            self.assert_refused(
                self.kd_config('kd_as_teacher',
                               **{'model.teacher_ckpt': kd_ckpt}),
                'distillation checkpoint',
                'tools/model_converters/extract_student.py')
        with self.subTest('text file as teacher'):
            self.assert_refused(
                self.kd_config('text_teacher',
                               **{'model.teacher_ckpt': text}),
                f'model.teacher_ckpt="{text}" is not a PyTorch checkpoint')
        with self.subTest('no teacher checkpoint'):
            self.assert_refused(
                self.kd_config('no_teacher', **{'model.teacher_ckpt': None}),
                'model.teacher_ckpt is not set',
                'model.allow_random_teacher=True')


class TestTrainPreflightNamesTheKey(TrainCLICase):

    def test_unknown_types(self):
        with self.subTest('loss'):
            self.assert_refused(
                self.kd_config('typo_loss'),
                'model.distiller.distill_losses.loss_fgd_fpn1.type='
                '"mmkd_dense.FGDLos"', 'Did you mean "mmkd_dense.FGDLoss"',
                extra=['--cfg-options', 'model.distiller.distill_losses.'
                       'loss_fgd_fpn1.type=mmkd_dense.FGDLos'])
        with self.subTest('recorder'):
            self.assert_refused(
                self.kd_config('typo_recorder'),
                'model.distiller.teacher_recorders.fpn.type="ModuleOutput"',
                'Did you mean "ModuleOutputs"',
                extra=['--cfg-options', 'model.distiller.teacher_recorders.'
                       'fpn.type=ModuleOutput'])
        with self.subTest('connector'):
            cfg = self.kd_cfg('typo_connector')
            cfg.model.distiller.connectors = dict(
                adapt=dict(type='mmkd_dense.FeatureAdaptor', in_channels=32,
                           out_channels=64))
            path = osp.join(self.tmp.name, 'typo_connector.py')
            cfg.dump(path)
            self.assert_refused(
                path, 'model.distiller.connectors.adapt.type='
                '"mmkd_dense.FeatureAdaptor"',
                'Did you mean "mmkd_dense.FeatureAdapter"')

    def test_teacher_neck_with_fewer_levels(self):
        # a teacher with P3-P4 only (its own head fits: 2 anchor strides)
        err = self.assert_refused(
            self.kd_config('teacher_2_levels', **{
                'model.teacher_ckpt': None,
                'model.allow_random_teacher': True,
                'model.teacher.cfg_options': {
                    'neck.end_level': 2, 'neck.num_outs': 2,
                    'bbox_head.anchor_generator.strides': [8, 16]}}),
            'model.distiller.loss_forward_mappings.loss_fgd_fpn2.preds_T: '
            'data_idx=2', 'model.distiller.teacher_recorders.fpn',
            'recorded 2 outputs', 'model.distiller.distill_losses.'
            'loss_fgd_fpn2 (FGDLoss)')
        self.assertNotIn('data_idx is illegal', err)

    def test_teacher_head_that_does_not_fit_its_neck(self):
        # 4 anchor levels on a 3-level neck: same weights (the checkpoint
        # loads), but the head fails on the neck's outputs. FGD distils
        # FPN features only (teacher_forward='feat'), so without the
        # preflight the first validation, after an epoch, would crash.
        self.assert_refused(
            self.kd_config('teacher_bad_head', **{
                'model.teacher.cfg_options': {
                    'bbox_head.anchor_generator.strides': [8, 16, 32, 64]}}),
            "model.teacher: the teacher's head does not run on its neck "
            'outputs')

    def test_class_count_mismatch_with_a_loss_on_the_teacher_head(self):
        teacher5 = Config.fromfile(DEMO_TEACHER)
        teacher5.model.bbox_head.num_classes = 5
        path = osp.join(self.tmp.name, 'teacher5.pth')
        torch.save(dict(state_dict=build_model_from_cfg(
            teacher5).state_dict()), path)
        cfg = shrink_config(Config.fromfile(osp.join(
            REPO, 'configs/ds2d2/ds2d2_fpn_retina-r18c32_retina-r18c16-'
            'fpn64_12e_digits.py')), self.data,
            osp.join(self.tmp.name, 'unused'), image_scale=(128, 128))
        distiller = cfg.model.distiller
        for key in ('loss_ds2d2_hf', 'loss_ds2d2_explicit'):
            distiller.distill_losses.pop(key)
            distiller.loss_forward_mappings.pop(key)
        cfg.model.teacher_ckpt = path
        cfg.model.teacher.cfg_options = {'bbox_head.num_classes': 5}
        config = osp.join(self.tmp.name, 'ds2d2_cls5.py')
        cfg.dump(config)
        # DS2D2's implicit stream runs the teacher head on student features
        self.assert_refused(config, 'model.teacher has 5 classes',
                            'model.architecture has 10',
                            "runs the teacher's head")


class TestResume(TrainCLICase):

    def test_nothing_to_resume(self):
        config = self.kd_config('resume_cfg')
        empty = osp.join(self.tmp.name, 'empty_work')
        os.makedirs(empty)
        with self.subTest('empty work dir'):
            code, err = run_main('train', [config, '--work-dir', empty,
                                           '--resume'])
            self.assertEqual(code, 1)
            self.assertIn('--resume: nothing to resume', err)
            self.assertIn('has no last_checkpoint file', err)
            self.assertIn('--resume-or-start', err)
            self.assertEqual(os.listdir(empty), [])
        with self.subTest('mistyped work dir'):
            typo = osp.join(self.tmp.name, 'emtpy_work')
            code, err = run_main('train', [config, '--work-dir', typo,
                                           '--resume'])
            self.assertEqual(code, 1)
            self.assertIn(f'the work dir {typo} does not exist', err)
            self.assertFalse(osp.exists(typo))
        with self.subTest('missing checkpoint file'):
            code, err = run_main('train', [
                config, '--work-dir', empty, '--resume',
                osp.join(empty, 'epoch_3.pth')])
            self.assertEqual(code, 1)
            self.assertIn('no such checkpoint file', err)
        with self.subTest('resume=True in the config'):
            code, err = run_main('train', [config, '--work-dir', empty,
                                           '--cfg-options', 'resume=True'])
            self.assertEqual(code, 1)
            self.assertIn('resume=True (config): nothing to resume', err)
            self.assertEqual(os.listdir(empty), [])
        with self.subTest('--resume-or-start starts fresh'):
            # it goes on to the preflight (here: a missing data root)
            code, err = run_main('train', [
                config, '--work-dir', empty, '--resume-or-start',
                '--cfg-options', 'train_dataloader.dataset.data_root=/no/'])
            self.assertEqual(code, 1)
            self.assertIn('starting from scratch', err)
            self.assertIn('train_dataloader.dataset.ann_file', err)
            self.assertEqual(os.listdir(empty), [])

    def test_resume_after_teacher_checkpoint_moved(self):
        teacher = osp.join(self.tmp.name, 'moving_teacher.pth')
        shutil.copy(self.teacher_ckpt, teacher)
        work = osp.join(self.tmp.name, 'resume_work')
        no_val = dict(val_cfg=None, val_dataloader=None, val_evaluator=None)
        first = self.kd_config('resume_1', **{
            'model.teacher_ckpt': teacher, **no_val,
            'train_cfg.max_iters': 1, 'default_hooks.checkpoint.interval': 1})
        console = io.StringIO()
        code, err = run_main('train', [first, '--work-dir', work],
                             stdout=console)
        self.assertEqual(code, 0, err[-3000:])
        self.assertTrue(osp.isfile(osp.join(work, 'iter_1.pth')))
        # the console shows a summary before the first iteration; the run
        # log keeps the config dump, the hook table and the build flags
        console = console.getvalue()
        lines = console.splitlines()
        first_iter = next(i for i, line in enumerate(lines)
                          if 'Iter(train)' in line)
        self.assertLess(first_iter, 80, console[:5000])
        self.assertIn('Config (', console)
        self.assertIn(f'saved as {osp.abspath(work)}/resume_1.py', console)
        self.assertNotIn('Hooks will be executed', console)
        self.assertNotIn('Build settings', console)
        log = ''.join(open(p).read() for p in self.run_logs(work))
        for full in ('Config:\n', 'Hooks will be executed',
                     'Build settings', "type='mmkd_dense.GTAwareDistill'"):
            self.assertIn(full, log)
        os.rename(teacher, teacher + '.moved')
        second = self.kd_config('resume_2', **{
            'model.teacher_ckpt': teacher, **no_val,
            'train_cfg.max_iters': 2, 'default_hooks.checkpoint.interval': 1})
        code, err = run_main('train', [second, '--work-dir', work,
                                       '--resume'])
        self.assertEqual(code, 0, err[-3000:])
        resumed = torch.load(osp.join(work, 'iter_2.pth'))
        self.assertEqual(resumed['meta']['iter'], 2)
        original = torch.load(teacher + '.moved')['state_dict']
        for name, value in original.items():
            torch.testing.assert_close(resumed['state_dict']['teacher.' +
                                                             name], value)
        self.assertTrue(any('weights restored from' in open(p).read()
                            for p in self.run_logs(work)))

    @staticmethod
    def run_logs(work):
        return [osp.join(r, f) for r, _, fs in os.walk(work) for f in fs
                if f.endswith('.log')]


class TestTestToolRefusesMismatch(DemoDataCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        kd = build_model_from_cfg(cls.kd_cfg(cls, 'kd_for_test'))
        cls.kd_ckpt = osp.join(cls.tmp.name, 'kd_for_test.pth')
        torch.save(dict(state_dict=kd.state_dict(), meta={}), cls.kd_ckpt)
        student = build_model_from_cfg(Config.fromfile(DEMO_STUDENT))
        cls.student_ckpt = osp.join(cls.tmp.name, 'student.pth')
        torch.save(dict(state_dict=student.state_dict(), meta={}),
                   cls.student_ckpt)

    def student_config(self):
        cfg = shrink_config(Config.fromfile(DEMO_STUDENT), self.data,
                            osp.join(self.tmp.name, 'unused'),
                            image_scale=(128, 128))
        path = osp.join(self.tmp.name, 'student_cfg.py')
        cfg.dump(path)
        return path

    def test_student_config_with_distillation_checkpoint(self):
        # (tools/test.py also runs as a subprocess in test_tools_cli.py)
        work = osp.join(self.tmp.name, 'test_work_1')
        code, err = run_main('test', [self.student_config(), self.kd_ckpt,
                                      '--work-dir', work])
        self.assertEqual(code, 1, err[-3000:])
        self.assertIn(f'CHECKPOINT="{self.kd_ckpt}" does not fit the model '
                      'of CONFIG (RetinaNet)', err)
        self.assertIn('It is a distillation checkpoint', err)
        self.assertIn('extract_student.py', err)
        self.assertIn('--allow-partial', err)
        self.assertFalse(osp.exists(work))

    def test_distillation_config_with_student_checkpoint(self):
        work = osp.join(self.tmp.name, 'test_work_2')
        code, err = run_main('test', [self.kd_config('kd_test'),
                                      self.student_ckpt, '--work-dir', work])
        self.assertEqual(code, 1, err[-3000:])
        self.assertIn('It is a plain detector checkpoint but CONFIG is a '
                      'distillation config', err)
        self.assertRegex(err, r'\d+ missing, \d+ unexpected')
        self.assertFalse(osp.exists(work))
        # --allow-partial: evaluates, with the warning in the run log
        metrics = osp.join(self.tmp.name, 'partial.json')
        code, err = run_main('test', [
            self.student_config(), self.kd_ckpt, '--work-dir', work,
            '--allow-partial', '--metrics-out', metrics])
        self.assertEqual(code, 0, err[-3000:])
        self.assertTrue(osp.isfile(metrics))
        logs = [osp.join(r, f) for r, _, fs in os.walk(work) for f in fs
                if f.endswith('.log')]
        self.assertTrue(any('--allow-partial: evaluating a checkpoint that '
                            'does not fit' in open(p).read() for p in logs))


class TestDistillerErrorsDuringTraining(DemoDataCase):
    """Issue 11.6: only the preflight translates a loss failure into a
    config hint; in training the exception propagates unchanged."""

    def setUp(self):
        self.model = build_model_from_cfg(self.kd_cfg('errors'))
        from mmkd_dense.utils.dummy_batch import make_dummy_batch
        self.batch = make_dummy_batch(2, (128, 128), num_classes=10)

    def raise_in_loss(self, error):
        loss = self.model.distiller.distill_losses['loss_fgd_fpn1']
        return mock.patch.object(loss, 'forward', side_effect=error)

    def test_training_step_error_propagates_unchanged(self):
        oom = torch.OutOfMemoryError('CUDA out of memory. Tried to allocate '
                                     '2.00 GiB')
        for error in (oom, RuntimeError('cuDNN error: bad param')):
            with self.subTest(type(error).__name__), \
                    self.raise_in_loss(error):
                with self.assertRaises(type(error)) as ctx:
                    self.model.loss(*self.batch)
                self.assertIs(ctx.exception, error)
                self.assertEqual(ctx.exception.args, error.args)
                self.assertNotIsInstance(ctx.exception, DistillConfigError)

    def test_preflight_translates(self):
        self.model.distiller.explain_errors = True
        with self.raise_in_loss(RuntimeError('The size of tensor a (32) must'
                                             ' match the size of b (64)')):
            with self.assertRaises(DistillConfigError) as ctx:
                self.model.loss(*self.batch)
        msg = str(ctx.exception)
        self.assertIn('model.distiller.distill_losses.loss_fgd_fpn1 '
                      '(FGDLoss) failed on inputs', msg)
        self.assertIn('connector', msg)
        # an out-of-memory error is never turned into a config hint
        oom = torch.OutOfMemoryError('CUDA out of memory')
        with self.raise_in_loss(oom), self.assertRaises(
                torch.OutOfMemoryError):
            self.model.loss(*self.batch)


class TestStartUp(unittest.TestCase):

    def test_help_does_not_import_torch(self):
        code = ('import runpy, sys\n'
                'for tool in ("tools/train.py", "tools/test.py"):\n'
                '    sys.argv = [tool, "--help"]\n'
                '    try:\n'
                '        runpy.run_path(tool, run_name="__main__")\n'
                '    except SystemExit:\n'
                '        pass\n'
                'print("TORCH", "torch" in sys.modules)\n')
        proc = subprocess.run([PY, '-c', code], cwd=REPO, text=True,
                              capture_output=True, timeout=60)
        self.assertIn('--resume-or-start', proc.stdout)
        self.assertIn('--allow-partial', proc.stdout)
        self.assertIn('TORCH False', proc.stdout)

    def test_import_is_lazy(self):
        # registration through the registries' locations is exercised by
        # every CLI test (the subprocess one above builds the model from a
        # fresh interpreter)
        code = ('import sys, mmkd_dense\n'
                'print("HEAVY", [m for m in ("mmdet", "mmrazor") '
                'if m in sys.modules])\n')
        proc = run_tool(['-c', code], timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        self.assertIn('HEAVY []', proc.stdout)


if __name__ == '__main__':
    unittest.main()
