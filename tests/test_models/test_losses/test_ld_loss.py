# Copyright (c) mmkd_dense contributors. All rights reserved.
"""LDLoss: parity with mmdet 3.3's LDHead ``loss_ld``, gradients, equal
inputs, empty GT and the build-time wiring."""
import copy
import unittest

import torch

import mmkd_dense  # noqa: F401
from mmkd_dense.models.losses import LDLoss
from tests.test_models.test_losses._head_kd_helpers import (HeadsOnly,
                                                            build_head,
                                                            context,
                                                            features,
                                                            head_cfg,
                                                            samples)


def _ld_reference(gfl_head, feats, soft, data_samples) -> torch.Tensor:
    """``loss_ld`` of mmdet's LDHead with the same weights on the same FPN
    features and teacher distributions (``LDHead.loss``)."""
    cfg = dict(copy.deepcopy(head_cfg('gfl')), type='LDHead',
               loss_ld=dict(type='KnowledgeDistillationKLDivLoss',
                            loss_weight=0.25, T=10))
    ld_head = build_head(cfg)
    ld_head.load_state_dict(gfl_head.state_dict())
    losses = ld_head.loss(list(feats), (None, soft), data_samples)
    return sum(losses['loss_ld'])


class TestLDLoss(unittest.TestCase):

    def setUp(self):
        self.head = build_head(head_cfg('gfl'))
        self.loss = LDLoss()
        self.loss.prepare_from_student(HeadsOnly(self.head))

    def _outs(self, seed=0, boxes=(3, 2)):
        feats = features(seed, requires_grad=True)
        cls, reg = self.head(feats)
        gen = torch.Generator().manual_seed(seed + 10)
        soft = [torch.randn(r.shape, generator=gen) for r in reg]
        return feats, cls, reg, soft, samples(boxes, seed=seed)

    def test_parity_with_mmdet_ld_head(self):
        for seed, boxes in ((0, (3, 2)), (1, (1, 0)), (2, (4, 4))):
            with self.subTest(seed=seed):
                feats, cls, reg, soft, data = self._outs(seed, boxes)
                ref = _ld_reference(self.head, feats, soft, data)
                ours = self.loss((cls, reg), (cls, soft), context(data))
                self.assertGreater(float(ref), 0.0)
                self.assertAlmostEqual(float(ours), float(ref), places=6)
                # same gradient on the FPN features
                g_ref = torch.autograd.grad(ref, feats, retain_graph=True)
                g_ours = torch.autograd.grad(ours, feats)
                for a, b in zip(g_ref, g_ours):
                    torch.testing.assert_close(a, b)

    def test_gradient_reaches_student_not_teacher_or_scores(self):
        feats, cls, reg, soft, data = self._outs()
        soft = [s.requires_grad_(True) for s in soft]
        loss = self.loss((cls, reg), (cls, soft), context(data))
        loss.backward()
        self.assertGreater(float(feats[0].grad.abs().sum()), 0.0)
        self.assertTrue(all(s.grad is None for s in soft))
        # the weight (student max score) is detached: gfl_cls gets nothing
        self.assertIsNone(self.head.gfl_cls.weight.grad)
        self.assertGreater(float(self.head.gfl_reg.weight.grad.abs().sum()),
                           0.0)

    def test_equal_distributions_zero(self):
        _, cls, reg, _, data = self._outs()
        loss = self.loss((cls, reg), (cls, [r.detach() for r in reg]),
                         context(data))
        self.assertAlmostEqual(float(loss), 0.0, places=6)

    def test_empty_gt(self):
        _, cls, reg, soft, data = self._outs(boxes=(0, 0))
        loss = self.loss((cls, reg), (cls, soft), context(data))
        self.assertEqual(float(loss), 0.0)
        loss.backward()  # still part of the graph
        # one image without GT: only the other image's positives count
        feats, cls, reg, soft, data = self._outs(boxes=(2, 0))
        only = self.loss((cls, reg), (cls, soft), context(data))
        self.assertAlmostEqual(
            float(only), float(_ld_reference(self.head, feats, soft, data)),
            places=6)

    def test_wiring_errors(self):
        loss = LDLoss()
        with self.assertRaisesRegex(RuntimeError, 'prepare_from_student'):
            loss(([], []), ([], []), None)
        with self.assertRaisesRegex(TypeError, 'needs a GFLHead student'):
            loss.prepare_from_student(
                HeadsOnly(build_head(head_cfg('retina'))))
        with self.assertRaisesRegex(AttributeError,
                                    'LDLoss.student_head="head"'):
            LDLoss(student_head='head').prepare_from_student(
                HeadsOnly(self.head))
        # the handle is not a submodule: no parameters, empty state_dict
        self.assertEqual(list(self.loss.parameters()), [])
        self.assertEqual(list(self.loss.state_dict()), [])

    def test_level_mismatch_error(self):
        _, cls, reg, soft, data = self._outs()
        with self.assertRaisesRegex(ValueError, 'same levels and reg_max'):
            self.loss((cls, reg), (cls, soft[:1]), context(data))


if __name__ == '__main__':
    unittest.main()
