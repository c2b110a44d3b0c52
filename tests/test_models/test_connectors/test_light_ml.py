# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Light-ML (CID + Light-ML, arXiv 2411.02861) and the Light-ML heads."""
import copy
import unittest

import torch

import mmkd_dense  # noqa: F401  (compat shims, registration)
import mmkd_dense.models.heads  # noqa: F401
from mmkd_dense.models.connectors import LightML

GN = dict(type='GN', num_groups=4, requires_grad=True)


def _build(cfg):
    from mmengine.registry import DefaultScope, MODELS, init_default_scope
    if DefaultScope.get_current_instance() is None:
        init_default_scope('mmdet')
    with DefaultScope.overwrite_default_scope('mmdet'):
        return MODELS.build(cfg)


def gfl_head_cfg(head_type='GFLHead'):
    return dict(
        type=head_type, num_classes=3, in_channels=8, stacked_convs=2,
        feat_channels=16, norm_cfg=GN,
        anchor_generator=dict(type='AnchorGenerator', ratios=[1.0],
                              octave_base_scale=8, scales_per_octave=1,
                              strides=[8, 16]))


def retina_head_cfg(head_type='RetinaHead'):
    return dict(
        type=head_type, num_classes=3, in_channels=8, stacked_convs=2,
        feat_channels=16,
        anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                              scales_per_octave=1, ratios=[0.5, 1.0, 2.0],
                              strides=[8, 16]))


def fcos_head_cfg(head_type='FCOSHead'):
    return dict(type=head_type, num_classes=3, in_channels=8,
                stacked_convs=2, feat_channels=16, strides=[8, 16],
                norm_cfg=GN, norm_on_bbox=True, centerness_on_reg=True)


def bbox_head_cfg(head_type):
    return dict(type=head_type, in_channels=8, fc_out_channels=32,
                roi_feat_size=7, num_classes=3)


def feats(seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(2, 8, 8, 10, generator=gen),
            torch.randn(2, 8, 4, 5, generator=gen))


def outputs_close(a, b):
    """Nested (list/tuple of) tensors equal."""
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(
            outputs_close(x, y) for x, y in zip(a, b))
    return torch.allclose(a, b, atol=1e-6, rtol=0)


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


class TestLightMLHeads(unittest.TestCase):

    def _check_identity(self, plain_cfg, lightml_cfg, inputs):
        plain = _build(plain_cfg)
        lifted = _build(lightml_cfg)
        missing, unexpected = lifted.load_state_dict(
            plain.state_dict(), strict=False)
        self.assertTrue(all(k.startswith('light_ml.') for k in missing))
        self.assertEqual(unexpected, [])
        plain.eval()
        lifted.eval()
        self.assertTrue(outputs_close(plain(inputs), lifted(inputs)))
        # non-zero Light-ML weights change the outputs (it is in the path)
        with torch.no_grad():
            lifted.light_ml.mix.weight.normal_(0, 0.5)
        self.assertFalse(outputs_close(plain(inputs), lifted(inputs)))

    def test_gfl_identity(self):
        self._check_identity(gfl_head_cfg(),
                             gfl_head_cfg('mmkd_dense.LightMLGFLHead'),
                             feats())

    def test_retina_identity(self):
        self._check_identity(retina_head_cfg(),
                             retina_head_cfg('mmkd_dense.LightMLRetinaHead'),
                             feats())

    def test_fcos_identity(self):
        self._check_identity(fcos_head_cfg(),
                             fcos_head_cfg('mmkd_dense.LightMLFCOSHead'),
                             feats())

    def test_roi_bbox_head_identity(self):
        self._check_identity(bbox_head_cfg('Shared2FCBBoxHead'),
                             bbox_head_cfg('mmkd_dense.LightMLConvFCBBoxHead'),
                             torch.randn(5, 8, 7, 7))

    def _tower_grad(self, head, branch):
        grads = [p.grad for p in getattr(head, branch).parameters()]
        return sum(float(g.abs().sum()) for g in grads if g is not None)

    def _cls_only_loss(self, head, inputs):
        cls_scores = head(inputs)[0]
        return sum(c.sum() for c in cls_scores)

    def test_gradient_crosses_branches(self):
        inputs = feats(1)
        # plain GFL: a loss on the class output never reaches the reg tower
        plain = _build(gfl_head_cfg())
        self._cls_only_loss(plain, inputs).backward()
        self.assertEqual(self._tower_grad(plain, 'reg_convs'), 0.)

        head = _build(gfl_head_cfg('mmkd_dense.LightMLGFLHead'))
        head.init_weights()
        # at init (zero mixing weights) the cross-branch path is closed, but
        # the mixing conv itself receives gradient ...
        self._cls_only_loss(head, inputs).backward()
        self.assertEqual(self._tower_grad(head, 'reg_convs'), 0.)
        mix_grad = head.light_ml.mix.weight.grad
        self.assertGreater(float(mix_grad.abs().sum()), 0.)
        # ... so one SGD step opens it: then the class loss changes the
        # regression tower's gradient.
        with torch.no_grad():
            head.light_ml.mix.weight -= 0.1 * mix_grad
        head.zero_grad()
        self._cls_only_loss(head, inputs).backward()
        self.assertGreater(self._tower_grad(head, 'reg_convs'), 0.)
        # and a loss on the box output reaches the class tower
        head.zero_grad()
        with torch.no_grad():
            head.light_ml.mix.weight.normal_(0, 0.1)
        sum(b.sum() for b in head(inputs)[1]).backward()
        self.assertGreater(self._tower_grad(head, 'cls_convs'), 0.)

    def test_roi_head_gradient_crosses_branches(self):
        cfg = bbox_head_cfg('mmkd_dense.LightMLConvFCBBoxHead')
        cfg.update(num_shared_fcs=0, num_cls_fcs=1, num_reg_fcs=1)
        head = _build(cfg)
        with torch.no_grad():
            head.light_ml.mix.weight.normal_(0, 0.1)
        cls_score, _ = head(torch.randn(4, 8, 7, 7))
        cls_score.sum().backward()
        self.assertGreater(self._tower_grad(head, 'reg_fcs'), 0.)

    def test_retina_and_fcos_gradient_crosses_branches(self):
        for cfg in (retina_head_cfg('mmkd_dense.LightMLRetinaHead'),
                    fcos_head_cfg('mmkd_dense.LightMLFCOSHead')):
            head = _build(copy.deepcopy(cfg))
            with torch.no_grad():
                head.light_ml.mix.weight.normal_(0, 0.1)
            self._cls_only_loss(head, feats(2)).backward()
            self.assertGreater(self._tower_grad(head, 'reg_convs'), 0.,
                               msg=cfg['type'])


if __name__ == '__main__':
    unittest.main()
