# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Light-ML connector (CID + Light-ML, arXiv 2411.02861)."""
import unittest

import torch

import mmkd_dense  # noqa: F401  (compat shims, registration)
from mmkd_dense.models.connectors import LightML

from ..head_cfgs import build as _build, gfl_head_cfg


class TestLightML(unittest.TestCase):

    def test_channel_shuffle_interleaves_branches(self):
        # cat(F_c, F_r) with C = 2: channels [c0, c1, r0, r1] -> [c0 r0 c1 r1]
        x = torch.arange(4.).reshape(1, 4, 1, 1)
        out = LightML.channel_shuffle(x, 2).flatten().tolist()
        self.assertEqual(out, [0., 2., 1., 3.])

    def test_identity_at_init(self):
        module = LightML(8)
        f_c, f_r = torch.randn(2, 8, 5, 6), torch.randn(2, 8, 5, 6)
        o_c, o_r = module(f_c, f_r)
        self.assertTrue(torch.equal(o_c, f_c))
        self.assertTrue(torch.equal(o_r, f_r))
        # (N, C) RoI features as well
        v_c, v_r = torch.randn(3, 8), torch.randn(3, 8)
        o_c, o_r = module(v_c, v_r)
        self.assertEqual(o_c.shape, (3, 8))
        self.assertTrue(torch.equal(o_c, v_c) and torch.equal(o_r, v_r))

    def test_hand_computed_mixing(self):
        # C = 2. Shuffled input [c0, r0, c1, r1]; group 0 (-> Y_c) reads
        # [c0, r0], group 1 (-> Y_r) reads [c1, r1].
        module = LightML(2)
        weight = torch.zeros(4, 2, 1, 1)
        weight[0, :, 0, 0] = torch.tensor([1., 2.])   # Y_c0 = c0 + 2 r0
        weight[1, :, 0, 0] = torch.tensor([0., -1.])  # Y_c1 = -r0
        weight[2, :, 0, 0] = torch.tensor([3., 0.])   # Y_r0 = 3 c1
        weight[3, :, 0, 0] = torch.tensor([1., 1.])   # Y_r1 = c1 + r1
        with torch.no_grad():
            module.mix.weight.copy_(weight)
            module.mix.bias.copy_(torch.tensor([0.5, 0., 0., -1.]))
        c = torch.tensor([[1., 2.]])
        r = torch.tensor([[10., 20.]])
        o_c, o_r = module(c, r)
        # F_c' = F_c + Y_c, F_r' = F_r + Y_r
        self.assertEqual(o_c.tolist(), [[1 + 1 + 20 + 0.5, 2 - 10]])
        self.assertEqual(o_r.tolist(), [[10 + 6, 20 + 2 + 20 - 1]])

    def test_more_groups_mix_both_branches(self):
        module = LightML(8, groups=4)
        self.assertEqual(sum(p.numel() for p in module.parameters()),
                         16 * 4 + 16)  # 4C^2/G + 2C
        f_c = torch.randn(2, 8, requires_grad=True)
        f_r = torch.randn(2, 8, requires_grad=True)
        o_c, o_r = module(f_c, f_r)
        self.assertTrue(torch.equal(o_c, f_c) and torch.equal(o_r, f_r))
        with torch.no_grad():
            module.mix.weight.normal_()
        o_c, _ = module(f_c, f_r)
        o_c.sum().backward()
        self.assertGreater(float(f_r.grad.abs().sum()), 0.)
        with self.assertRaisesRegex(ValueError, 'groups'):
            LightML(8, groups=3)

    def test_params(self):
        self.assertEqual(
            sum(p.numel() for p in LightML(256).parameters()),
            2 * 256 * 256 + 512)  # 131,584 ~ 0.13 M
        with self.assertRaisesRegex(ValueError, 'even'):
            LightML(7)

    def test_init_weights_keeps_identity_under_head_init_cfg(self):
        # GFLHead's init_cfg draws every Conv2d from Normal(std=0.01);
        # Light-ML must come out zero again.
        head = _build(gfl_head_cfg('mmkd_dense.LightMLGFLHead'))
        with torch.no_grad():
            head.light_ml.mix.weight.fill_(1.)
        head.init_weights()
        self.assertEqual(float(head.light_ml.mix.weight.abs().sum()), 0.)
        self.assertEqual(float(head.light_ml.mix.bias.abs().sum()), 0.)
        # and the tower convs were initialised (not all zero)
        self.assertGreater(
            float(head.cls_convs[0].conv.weight.abs().sum()), 0.)
