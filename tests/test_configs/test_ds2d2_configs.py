# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Every DS2D2 config (student stage and HF-amplifier stage) and its
DIOR / DOTA detector configs: reference hyper-parameters, builds, and 2 CPU
training iterations with gradients only where they belong."""
import glob
import os.path as osp
import re
import unittest

from mmengine.config import Config

import mmkd_dense  # noqa: F401
from mmkd_dense.models.detectors import HFAmplifierDetector
from mmkd_dense.models.losses import (DS2D2DenseImplicitLoss,
                                      DS2D2ExplicitLoss, DS2D2RoIImplicitLoss)
from mmkd_dense.testing import build_model_from_cfg, run_dummy_train_steps
from mmkd_dense.utils.pretrained import expected_imagenet_checkpoint

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs/ds2d2/*_digits.py')))
# speed variants of the reference schedule (implicit stream every k-th iter)
FAST_CONFIGS = sorted(
    set(glob.glob(osp.join(ROOT, 'configs/ds2d2/ds2d2-i*_fpn_*.py'))) -
    set(DEMO_CONFIGS))
STUDENT_CONFIGS = sorted(
    set(glob.glob(osp.join(ROOT, 'configs/ds2d2/ds2d2_fpn_*.py'))) -
    set(DEMO_CONFIGS))
AMPLIFIER_CONFIGS = sorted(
    set(glob.glob(osp.join(ROOT, 'configs/ds2d2/ds2d2_hf-amplifier_*.py'))) -
    set(DEMO_CONFIGS))
DETECTOR_CONFIGS = sorted(
    glob.glob(osp.join(ROOT, 'configs/detectors/*/*_2x_dior.py')) +
    glob.glob(osp.join(ROOT, 'configs/detectors/*/*_2x_dota.py')))
INPUT = (64, 96)  # small CPU batches; P7 is 1x1

# (w_LL, w_HF, w_FF, w_HA) from the reference configs (methods.md 2.3)
WEIGHTS = {
    ('retina', 'dior'): (1e-5, 1e-5, 1.0, 1.0),
    ('retina', 'dota'): (7e-5, 5e-5, 0.7, 0.5),
    ('faster-rcnn', 'dior'): (0.5, 0.5, 1e-5, 1e-5),
    ('faster-rcnn', 'dota'): (0.12, 1.2, 1.5e-3, 3e-3),
    ('fcos', 'dior'): (1e-5, 1e-5, 1.0, 1.0),
    ('gfl', 'dior'): (1e-5, 1e-5, 1.0, 1.0),
}
LR = {'retina': 0.005, 'faster-rcnn': 0.02, 'fcos': 0.01, 'gfl': 0.01}
NAME = re.compile(r'ds2d2_fpn_(?P<fam>[a-z-]+)-r101_(?P=fam)-r(?P<depth>\d+)'
                  r'_2x_(?P<ds>dior|dota)\.py')


def num_classes(path):
    if path.endswith('_digits.py'):
        return 10
    return 20 if path.endswith('_dior.py') else 15


def drop_checkpoints(cfg):
    """Configs point at trained checkpoints; tests use random weights."""
    for loss in cfg.model.get('distiller', {}).get('distill_losses',
                                                   {}).values():
        if 'amplifier_ckpt' in loss:
            loss.amplifier_ckpt = None
    return cfg


def head_of(model_cfg):
    return model_cfg.get('bbox_head') or model_cfg.roi_head.bbox_head


class TestDS2D2ConfigFiles(unittest.TestCase):

    def test_config_set(self):
        names = {osp.basename(p) for p in STUDENT_CONFIGS + AMPLIFIER_CONFIGS}
        expected = set()
        for fam in ('retina', 'faster-rcnn'):
            for ds in ('dior', 'dota'):
                expected.add(f'ds2d2_hf-amplifier_{fam}-r101_2x_{ds}.py')
                for d in (18, 34, 50):
                    expected.add(
                        f'ds2d2_fpn_{fam}-r101_{fam}-r{d}_2x_{ds}.py')
        for fam in ('fcos', 'gfl'):
            expected.add(f'ds2d2_hf-amplifier_{fam}-r101_2x_dior.py')
            expected.add(f'ds2d2_fpn_{fam}-r101_{fam}-r50_2x_dior.py')
        self.assertEqual(names, expected)
        self.assertTrue(osp.isfile(osp.join(ROOT, 'configs/ds2d2/README.md')))

    def test_detector_configs(self):
        self.assertEqual(len(DETECTOR_CONFIGS), 20)
        for path in DETECTOR_CONFIGS:
            with self.subTest(config=osp.basename(path)):
                cfg = Config.fromfile(path)
                self.assertEqual(head_of(cfg.model).num_classes,
                                 num_classes(path))
                depth = int(re.search(r'_r(\d+)_', path).group(1))
                self.assertEqual(cfg.model.backbone.depth, depth)
                self.assertEqual(cfg.model.neck.in_channels[0],
                                 64 if depth < 50 else 256)
                # ImageNet file of this depth (configs/_base_/models)
                self.assertEqual(
                    cfg.model.backbone.init_cfg.checkpoint,
                    expected_imagenet_checkpoint(cfg.model.backbone))
                fam = osp.basename(path).split('_')[0].replace(
                    'retinanet', 'retina')
                self.assertEqual(cfg.optim_wrapper.optimizer.lr, LR[fam])
                # dataset base: configs/_base_/datasets/{dior,dota_hbb}.py
                self.assertIn('DIOR' if 'dior' in path else 'DOTA',
                              str(cfg.train_dataloader.dataset))
                scales = [t.get('scale') for t in cfg.train_pipeline]
                self.assertIn((800, 800) if 'dior' in path else (1024, 1024),
                              scales)

    def test_student_configs_hyperparameters(self):
        self.assertEqual(len(STUDENT_CONFIGS), 14)
        for path in STUDENT_CONFIGS:
            name = osp.basename(path)
            with self.subTest(config=name):
                match = NAME.fullmatch(name)
                self.assertIsNotNone(match, name)
                fam, ds = match.group('fam'), match.group('ds')
                cfg = Config.fromfile(path)
                model = cfg.model
                self.assertEqual(model.architecture.backbone.depth,
                                 int(match.group('depth')))
                # the student is exactly its detector config's model
                folder, prefix = dict(
                    retina=('retinanet', 'retinanet'),
                    **{'faster-rcnn': ('faster_rcnn', 'faster-rcnn')}).get(
                        fam, (fam, fam))
                detector = glob.glob(osp.join(
                    ROOT, 'configs/detectors', folder,
                    f"{prefix}_r{match.group('depth')}_fpn*_2x_{ds}.py"))
                self.assertEqual(len(detector), 1, detector)
                self.assertEqual(model.architecture,
                                 Config.fromfile(detector[0]).model)
                teacher = Config.fromfile(
                    osp.join(ROOT, model.teacher.cfg_file)).model
                self.assertEqual(teacher.backbone.depth, 101)
                self.assertEqual(head_of(teacher).num_classes,
                                 num_classes(path))
                self.assertEqual(head_of(model.architecture).num_classes,
                                 num_classes(path))
                self.assertIn('r101_fpn', model.teacher_ckpt)
                losses = model.distiller.distill_losses
                w_ll, w_hf, w_ff, w_ha = WEIGHTS[(fam, ds)]
                exp = losses.loss_ds2d2_explicit
                self.assertEqual((exp.ll_weight, exp.hf_weight),
                                 (w_ll, w_hf))
                self.assertEqual(losses.loss_ds2d2_ff.loss_weight, w_ff)
                self.assertEqual(losses.loss_ds2d2_hf.loss_weight, w_ha)
                self.assertEqual(losses.loss_ds2d2_ff.amplifier, 'teacher')
                hf = losses.loss_ds2d2_hf
                self.assertEqual(hf.amplifier, 'high_frequency')
                self.assertTrue(osp.isfile(osp.join(ROOT, hf.amplifier_cfg)))
                self.assertEqual(
                    hf.amplifier_ckpt, 'work_dirs/' +
                    osp.basename(hf.amplifier_cfg)[:-3] + '/epoch_24.pth')
                amp = Config.fromfile(osp.join(ROOT, hf.amplifier_cfg))
                self.assertEqual(amp.model.detector.type, teacher.type)
                self.assertEqual(amp.load_from, model.teacher_ckpt)
                if fam == 'faster-rcnn':
                    self.assertEqual(losses.loss_ds2d2_ff.temperature, 3.0)
                    self.assertEqual(losses.loss_ds2d2_ff.cls_weight,
                                     0.5)
                    self.assertTrue(
                        losses.loss_ds2d2_ff.avg_factor_as_weight)
                else:
                    self.assertEqual(losses.loss_ds2d2_ff.qfl_beta, 1.0)
                self.assertEqual(cfg.optim_wrapper.optimizer.lr, LR[fam])

    def test_missing_amplifier_checkpoint_is_reported(self):
        cfg = Config.fromfile(STUDENT_CONFIGS[0])
        with self.assertRaisesRegex(FileNotFoundError, 'amplifier_ckpt'):
            build_model_from_cfg(cfg)


class TestDS2D2DemoConfigs(unittest.TestCase):
    """The embedded-demo configs: the 3-stage workflow on the digits set."""

    def test_demo_config_set(self):
        self.assertEqual({osp.basename(p) for p in DEMO_CONFIGS}, {
            'ds2d2_hf-amplifier_retina-r18c32_12e_digits.py',
            'ds2d2_fpn_retina-r18c32_retina-r18c16-fpn64_12e_digits.py',
            'ds2d2-interval3_fpn_retina-r18c32_retina-r18c16-fpn64_12e_'
            'digits.py',
            'ds2d2-interval3-staggered_fpn_retina-r18c32_retina-r18c16-'
            'fpn64_12e_digits.py'})

    def test_stages_fit_together(self):
        amp = Config.fromfile(osp.join(
            ROOT, 'configs/ds2d2/ds2d2_hf-amplifier_retina-r18c32_12e_'
            'digits.py'))
        base = Config.fromfile(osp.join(
            ROOT, 'configs/ds2d2/ds2d2_fpn_retina-r18c32_retina-r18c16-'
            'fpn64_12e_digits.py'))
        fast = Config.fromfile(osp.join(
            ROOT, 'configs/ds2d2/ds2d2-interval3_fpn_retina-r18c32_'
            'retina-r18c16-fpn64_12e_digits.py'))
        teacher = Config.fromfile(osp.join(ROOT,
                                           base.model.teacher.cfg_file)).model
        self.assertEqual(amp.model.detector, teacher)
        self.assertEqual(amp.load_from, base.model.teacher_ckpt)
        student = base.model.architecture
        # the implicit stream runs the teacher head on student features
        self.assertEqual(student.neck.out_channels, teacher.neck.out_channels)
        self.assertEqual(student.backbone.base_channels, 16)
        self.assertEqual(teacher.backbone.base_channels, 32)
        losses = base.model.distiller.distill_losses
        self.assertEqual(losses.loss_ds2d2_hf.amplifier_ckpt,
                         'work_dirs/demo/ds2d2_hf_amplifier/epoch_12.pth')
        self.assertNotIn('interval', losses.loss_ds2d2_ff)
        staggered = Config.fromfile(osp.join(
            ROOT, 'configs/ds2d2/ds2d2-interval3-staggered_fpn_retina-'
            'r18c32_retina-r18c16-fpn64_12e_digits.py'))
        for variant, offsets in ((fast, (0, 0)), (staggered, (0, 1))):
            fast_losses = variant.model.distiller.distill_losses
            for name, offset in zip(('loss_ds2d2_ff', 'loss_ds2d2_hf'),
                                    offsets):
                self.assertEqual(fast_losses[name].interval, 3)
                self.assertEqual(fast_losses[name].get('interval_offset', 0),
                                 offset)
                rest = {k: v for k, v in fast_losses[name].items()
                        if k not in ('interval', 'interval_offset')}
                self.assertEqual(rest, dict(losses[name]))
        # the no-KD baseline is the same student
        baseline = Config.fromfile(osp.join(
            ROOT, 'configs/demo/retinanet_r18c16_fpn64_12e_digits.py'))
        self.assertEqual(baseline.model, student)


class TestDS2D2FastConfigs(unittest.TestCase):

    def test_fast_variants_change_only_the_schedule(self):
        self.assertEqual([osp.basename(p) for p in FAST_CONFIGS], [
            'ds2d2-interval3-staggered_fpn_retina-r101_retina-r18_2x_dior.py'
        ])
        for path in FAST_CONFIGS:
            fast = Config.fromfile(path)
            ref = Config.fromfile(
                path.replace('ds2d2-interval3-staggered_fpn_', 'ds2d2_fpn_'))
            fast_losses = fast.model.distiller.distill_losses
            for name, offset in (('loss_ds2d2_ff', 0), ('loss_ds2d2_hf', 1)):
                self.assertEqual(fast_losses[name].pop('interval'), 3)
                self.assertEqual(fast_losses[name].pop('interval_offset'),
                                 offset)
            self.assertEqual(fast.model, ref.model)
            self.assertEqual(fast.train_cfg, ref.train_cfg)


class _TrainMixin:

    def train_student_config(self, path):
        cfg = drop_checkpoints(Config.fromfile(path))
        model = build_model_from_cfg(cfg)
        losses = model.distiller.distill_losses
        self.assertIsInstance(losses.loss_ds2d2_explicit, DS2D2ExplicitLoss)
        implicit = (DS2D2RoIImplicitLoss if 'faster-rcnn' in path else
                    DS2D2DenseImplicitLoss)
        self.assertIsInstance(losses.loss_ds2d2_ff, implicit)
        self.assertIsInstance(losses.loss_ds2d2_hf, implicit)
        amplifier = losses.loss_ds2d2_hf.amplifier
        self.assertIsNotNone(amplifier)
        history = run_dummy_train_steps(model, num_steps=2,
                                        input_shape=INPUT,
                                        num_classes=num_classes(path))
        for name in ('distill.loss_ds2d2_explicit', 'distill.loss_ds2d2_ff',
                     'distill.loss_ds2d2_hf'):
            self.assertIn(name, history[-1])
        # gradients of the last step: student and adapter yes, teacher and
        # amplifier never
        self.assertTrue(any(p.grad is not None and float(p.grad.abs().sum())
                            > 0 for p in model.student.parameters()))
        self.assertIsNotNone(losses.loss_ds2d2_explicit.adapter.weight.grad)
        for p in list(model.teacher.parameters()) + list(
                amplifier.parameters()):
            self.assertFalse(p.requires_grad)
            self.assertIsNone(p.grad)
        self.assertFalse(amplifier.training)

    def train_amplifier_config(self, path):
        cfg = Config.fromfile(path)
        model = build_model_from_cfg(cfg)
        self.assertIsInstance(model, HFAmplifierDetector)
        if not path.endswith('_digits.py'):
            self.assertTrue(cfg.load_from.endswith(
                'r101_fpn_' + cfg.load_from.split('_fpn_')[1]))
        run_dummy_train_steps(model, num_steps=2, input_shape=INPUT,
                              num_classes=num_classes(path))
        det = model.detector
        for name in ('backbone', 'neck'):
            for p in getattr(det, name).parameters():
                self.assertIsNone(p.grad)
        head = det.roi_head if hasattr(det, 'roi_head') else det.bbox_head
        self.assertTrue(any(p.grad is not None for p in head.parameters()))


class TestDS2D2AmplifierConfigsTrain(_TrainMixin, unittest.TestCase):
    """One test per amplifier-stage config (``-k <config name>``)."""


class TestDS2D2StudentConfigsTrain(_TrainMixin, unittest.TestCase):
    """One test per student-stage config (``-k <config name>``)."""


def _add_config_tests() -> None:
    """Generate one ``test_train_<config>`` method per config file, so each
    config is reported (and can be selected) on its own."""
    for paths, cls, method in (
            (AMPLIFIER_CONFIGS, TestDS2D2AmplifierConfigsTrain,
             'train_amplifier_config'),
            (STUDENT_CONFIGS, TestDS2D2StudentConfigsTrain,
             'train_student_config'),
            ([p for p in DEMO_CONFIGS if 'hf-amplifier' in p],
             TestDS2D2AmplifierConfigsTrain, 'train_amplifier_config'),
            ([p for p in DEMO_CONFIGS if 'hf-amplifier' not in p] +
             FAST_CONFIGS, TestDS2D2StudentConfigsTrain,
             'train_student_config')):
        for path in paths:
            name = osp.basename(path)[:-3].replace('-', '_')

            def test(self, path=path, method=method):
                getattr(self, method)(path)

            test.__doc__ = f'{osp.basename(path)} builds and trains 2 iters.'
            setattr(cls, f'test_train_{name}', test)


_add_config_tests()


if __name__ == '__main__':
    unittest.main()
