# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Light-ML heads (RetinaNet, FCOS, GFL, RoI bbox head)."""
import copy
import unittest

import torch

import mmkd_dense  # noqa: F401  (compat shims, registration)
import mmkd_dense.models.heads  # noqa: F401  (registers the heads)

from ..head_cfgs import (bbox_head_cfg, build as _build, fcos_head_cfg,
                         feats, gfl_head_cfg, outputs_close,
                         retina_head_cfg)


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
