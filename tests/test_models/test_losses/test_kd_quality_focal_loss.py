# Copyright (c) mmkd_dense contributors. All rights reserved.
"""KDQualityFocalLoss and KDKLDivLoss: hand-computed values, reductions,
gradients and the equal-input minimum."""
import math
import unittest

import torch

import mmkd_dense  # noqa: F401
from mmkd_dense.models.losses import KDKLDivLoss, KDQualityFocalLoss
from mmkd_dense.registry import MODELS


def _bce_half(logit: float) -> float:
    """BCE of ``logit`` against the soft target 0.5."""
    p = 1 / (1 + math.exp(-logit))
    return -(0.5 * math.log(p) + 0.5 * math.log(1 - p))


class TestKDQualityFocalLoss(unittest.TestCase):

    def test_hand_computed(self):
        # teacher logit 0 -> q = 0.5; student logit 2 -> p = 0.8808
        pred = torch.tensor([[2.0, 0.0], [-1.0, 0.0]])
        target = torch.zeros(2, 2)
        p2, p1 = 1 / (1 + math.exp(-2)), 1 / (1 + math.exp(1))
        row0 = _bce_half(2.0) * abs(p2 - 0.5)  # second entry: |0.5-0.5| = 0
        row1 = _bce_half(-1.0) * abs(p1 - 0.5)
        loss = KDQualityFocalLoss(beta=1.0)
        weight = torch.tensor([1.0, 0.5])
        self.assertAlmostEqual(
            float(loss(pred, target, weight, avg_factor=2.0)),
            (row0 + 0.5 * row1) / (2.0 + torch.finfo(torch.float32).eps),
            places=6)
        # beta = 2 squares the focal factor; loss_weight scales
        loss2 = KDQualityFocalLoss(beta=2.0, loss_weight=3.0)
        expected = 3.0 * (_bce_half(2.0) * (p2 - 0.5)**2 +
                          _bce_half(-1.0) * (p1 - 0.5)**2)
        self.assertAlmostEqual(
            float(loss2(pred, target, reduction_override='sum')), expected,
            places=5)
        per_entry = loss(pred, target, reduction_override='none')
        self.assertEqual(tuple(per_entry.shape), (2, 2))
        self.assertEqual(float(per_entry[0, 1]), 0.0)

    def test_equal_inputs_zero_and_student_only_gradient(self):
        gen = torch.Generator().manual_seed(0)
        target = torch.randn(6, 4, generator=gen, requires_grad=True)
        pred = target.detach().clone().requires_grad_(True)
        loss = KDQualityFocalLoss()(pred, target, avg_factor=3.0)
        self.assertEqual(float(loss), 0.0)
        shifted = (pred + 0.5)
        KDQualityFocalLoss()(shifted, target, avg_factor=3.0).backward()
        self.assertGreater(float(pred.grad.abs().sum()), 0.0)
        self.assertIsNone(target.grad)  # the teacher is detached

    def test_registered_and_errors(self):
        built = MODELS.build(dict(type='mmkd_dense.KDQualityFocalLoss',
                                  beta=2.0))
        self.assertIsInstance(built, KDQualityFocalLoss)
        with self.assertRaisesRegex(ValueError, 'reduction must be one of'):
            KDQualityFocalLoss(reduction='avg')
        with self.assertRaisesRegex(ValueError, 'differ in shape'):
            KDQualityFocalLoss()(torch.zeros(2, 3), torch.zeros(2, 4))

    def test_half_precision_inputs_give_float32(self):
        pred = torch.randn(5, 3).half()
        target = torch.randn(5, 3).half()
        loss = KDQualityFocalLoss()(pred, target, avg_factor=2.0)
        self.assertEqual(loss.dtype, torch.float32)
        ref = KDQualityFocalLoss()(pred.float(), target.float(),
                                   avg_factor=2.0)
        self.assertAlmostEqual(float(loss), float(ref), places=6)


class TestKDKLDivLoss(unittest.TestCase):

    def test_hand_computed(self):
        # teacher softmax([ln 3, 0]) = (3/4, 1/4), student uniform (1/2, 1/2)
        pred = torch.zeros(1, 2)
        soft = torch.tensor([[math.log(3.0), 0.0]])
        kl = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
        summed = KDKLDivLoss(temperature=1, class_reduction='sum')
        self.assertAlmostEqual(float(summed(pred, soft)), kl, places=6)
        mean = KDKLDivLoss(
            temperature=1, class_reduction='mean', loss_weight=2.0)
        self.assertAlmostEqual(float(mean(pred, soft)), 2.0 * kl / 2,
                               places=6)
        # T = 2: q = softmax([ln 3 / 2, 0]) = (sqrt3, 1) / (sqrt3 + 1), x T^2
        q0 = math.sqrt(3) / (math.sqrt(3) + 1)
        kl_t = q0 * math.log(q0 / 0.5) + (1 - q0) * math.log((1 - q0) / 0.5)
        self.assertAlmostEqual(
            float(
                KDKLDivLoss(temperature=2, class_reduction='sum')(pred, soft)),
            4 * kl_t, places=6)
        # weights and avg_factor as mmdet's weight_reduce_loss
        two = KDKLDivLoss(temperature=1, class_reduction='sum')(
            torch.zeros(2, 2), soft.repeat(2, 1),
            weight=torch.tensor([1.0, 3.0]), avg_factor=4.0)
        self.assertAlmostEqual(
            float(two), 4 * kl / (4 + torch.finfo(torch.float32).eps),
            places=6)

    def test_matches_mmdet_with_mean_reduction(self):
        from mmdet.models.losses import KnowledgeDistillationKLDivLoss
        gen = torch.Generator().manual_seed(1)
        pred, soft = torch.randn(2, 7, 9, generator=gen)
        weight = torch.rand(7, generator=gen)
        ours = KDKLDivLoss(
            temperature=10, class_reduction='mean', loss_weight=0.25)
        ref = KnowledgeDistillationKLDivLoss(T=10, loss_weight=0.25)
        self.assertAlmostEqual(
            float(ours(pred, soft, weight, avg_factor=4.0)),
            float(ref(pred, soft, weight, avg_factor=4.0)), places=6)

    def test_equal_zero_and_errors(self):
        logits = torch.randn(4, 17)
        self.assertAlmostEqual(
            float(KDKLDivLoss(temperature=1)(logits, logits)), 0.0, places=6)
        with self.assertRaisesRegex(ValueError, 'class_reduction'):
            KDKLDivLoss(class_reduction='max')
        with self.assertRaisesRegex(ValueError, 'temperature must be >= 1'):
            KDKLDivLoss(temperature=0.5)


if __name__ == '__main__':
    unittest.main()
