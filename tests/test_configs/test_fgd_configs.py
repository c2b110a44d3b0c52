# Copyright (c) mmkd_dense contributors. All rights reserved.
"""The FGD baseline configs follow the published recipe (yzd-v/FGD
``configs/distillers/fgd/*``): the authors' weights, the student's neck and
head initialised from the teacher (``init_student=True``, here
``model.student_init_from_teacher``) while the
backbone keeps its ImageNet initialisation, P2-P5 for Faster R-CNN, and the
reference's box-size count (``area_mode='reference'``)."""
import ast
import copy
import os.path as osp
import tempfile
import unittest

import torch
from mmengine.config import Config

import mmkd_dense  # noqa: F401
from mmkd_dense.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FGD = osp.join(ROOT, 'configs/baselines/fgd')
#: config -> (student parts initialised from the teacher, distilled
#: levels, (temperature, alpha, beta, gamma, lambda) of the authors' config)
PUBLISHED = {
    'fgd_fpn_retina-r101_retina-r50_2x_coco.py':
    (('neck', 'bbox_head'), 5, (0.5, 1e-3, 5e-4, 5e-4, 5e-6)),
    'fgd_fpn_gfl-r101_gfl-r50_1x_coco.py':
    (('neck', 'bbox_head'), 5, (0.5, 1e-3, 5e-4, 5e-4, 5e-6)),
    'fgd_fpn_fcos-r101_fcos-r50_2x_coco.py':
    (('neck', 'bbox_head'), 5, (0.8, 1.6e-3, 8e-4, 8e-4, 8e-6)),
    'fgd_fpn_faster-rcnn-r101_faster-rcnn-r50_2x_coco.py':
    (('neck', 'rpn_head', 'roi_head'), 4, (0.5, 5e-5, 2.5e-5, 5e-5, 5e-7)),
}


def _student_base(cfg_path):
    """The student detector config the FGD config inherits (first entry
    of its ``_base_``; the second is the FGD method base)."""
    with open(cfg_path) as f:
        tree = ast.parse(f.read())
    rel = next(ast.literal_eval(node.value) for node in tree.body
               if isinstance(node, ast.Assign)
               and getattr(node.targets[0], 'id', None) == '_base_')[0]
    return Config.fromfile(osp.normpath(osp.join(osp.dirname(cfg_path),
                                                 rel)))


class TestFGDPublishedRecipe(unittest.TestCase):

    def test_configs(self):
        for name, (parts, levels, weights) in PUBLISHED.items():
            with self.subTest(config=name):
                path = osp.join(FGD, name)
                cfg = Config.fromfile(path)
                arch = cfg.model.architecture
                # neck and head(s) copied from the loaded teacher
                self.assertEqual(list(cfg.model.student_init_from_teacher),
                                 list(parts))
                # the student is the detector config's (ImageNet backbone)
                base = _student_base(path)
                self.assertEqual(arch.backbone.depth, 50)
                self.assertEqual(arch.to_dict(), base.model.to_dict())
                # levels: P3-P7 one-stage, P2-P5 Faster R-CNN
                mappings = cfg.model.distiller.loss_forward_mappings
                self.assertEqual(
                    sorted(m.preds_S.data_idx for m in mappings.values()),
                    list(range(levels)))
                self.assertEqual(
                    sorted(m.preds_T.data_idx for m in mappings.values()),
                    list(range(levels)))
                losses = cfg.model.distiller.distill_losses
                self.assertEqual(len(losses), levels)
                for loss_cfg in losses.values():
                    loss = MODELS.build(copy.deepcopy(loss_cfg))
                    self.assertEqual(
                        (loss.temperature, loss.alpha_fgd, loss.beta_fgd,
                         loss.gamma_fgd, loss.lambda_fgd), weights)
                    self.assertEqual(loss.area_mode, 'reference')
                self.assertEqual(cfg.optim_wrapper.clip_grad.max_norm, 35)


class TestStudentInitFromTeacher(unittest.TestCase):
    """After ``init_weights`` the distillation model's student has its
    backbone from the (ImageNet) backbone file and its neck and head(s)
    from the teacher checkpoint given as ``model.teacher_ckpt`` (as a user
    passes it with ``--cfg-options``), nothing of the teacher's backbone.

    Both files are made here: the "ImageNet" file is a random ResNet state
    dict with torchvision's key names (plus its ``fc`` classifier), the
    teacher checkpoint the state dict of a detector with the student's
    neck/head shapes (as the FGD teachers have) and a different seed. The
    backbones are made ResNet-18 (and the FPN inputs adapted) to keep the
    test fast; the copying does not depend on the depth.
    """

    def _check(self, name, parts):
        from mmkd_dense.testing import build_model_from_cfg
        cfg = Config.fromfile(osp.join(FGD, name))
        arch = cfg.model.architecture
        arch.backbone.depth = 18
        arch.neck.in_channels = [64, 128, 256, 512]
        with tempfile.TemporaryDirectory() as tmp:
            from mmdet.models.backbones import ResNet
            torch.manual_seed(1)
            imagenet = ResNet(depth=18).state_dict()
            for key, value in imagenet.items():
                if 'running_' in key:  # not the fresh-BN 0 / 1
                    value.uniform_(0.5, 1.5)
            imagenet['fc.weight'] = torch.randn(1000, 512)
            imagenet['fc.bias'] = torch.zeros(1000)
            imagenet_file = osp.join(tmp, 'resnet18-imagenet.pth')
            torch.save(imagenet, imagenet_file)

            teacher_arch = copy.deepcopy(arch)
            teacher_arch.backbone.init_cfg = None
            torch.manual_seed(2)
            teacher = MODELS.build(teacher_arch)
            teacher_file = osp.join(tmp, 'teacher.pth')
            torch.save(dict(state_dict=teacher.state_dict(), meta={}),
                       teacher_file)

            arch.backbone.init_cfg = dict(type='Pretrained',
                                          checkpoint=imagenet_file)
            cfg.model.teacher = teacher_arch
            cfg.model.teacher_ckpt = teacher_file
            torch.manual_seed(3)
            model = build_model_from_cfg(cfg, drop_teacher_ckpt=False,
                                         imagenet_init=True)
            model.init_weights()
        student = model.student

        teacher_state = teacher.state_dict()
        loaded = 0
        for key, value in student.state_dict().items():
            part = key.split('.')[0]
            if part == 'backbone':
                expected = imagenet[key[len('backbone.'):]]
            elif part in parts:
                expected = teacher_state[key]
            else:
                continue
            self.assertTrue(torch.equal(value, expected), key)
            loaded += 1
        self.assertGreater(loaded, 100)
        # the teacher checkpoint's backbone (which differs) was not used
        self.assertFalse(torch.equal(teacher_state['backbone.conv1.weight'],
                                     imagenet['conv1.weight']))

    def test_retinanet(self):
        self._check('fgd_fpn_retina-r101_retina-r50_2x_coco.py',
                    ('neck', 'bbox_head'))

    def test_faster_rcnn(self):
        self._check('fgd_fpn_faster-rcnn-r101_faster-rcnn-r50_2x_coco.py',
                    ('neck', 'rpn_head', 'roi_head'))


if __name__ == '__main__':
    unittest.main()
