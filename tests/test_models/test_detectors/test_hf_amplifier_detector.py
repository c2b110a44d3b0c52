# Copyright (c) mmkd_dense contributors. All rights reserved.
"""DS2D2 stage 2: HFAmplifierDetector (frozen teacher backbone + neck, HF
features, trainable heads)."""
import os.path as osp
import tempfile
import unittest

import torch

import mmkd_dense  # noqa: F401
from mmkd_dense.models.detectors import HFAmplifierDetector
from mmkd_dense.models.utils.amplifier_head import (amplifier_detector_cfg,
                                                    load_amplifier_head)
from mmkd_dense.models.utils.haar_wavelet import high_frequency
from ..test_losses._ds2d2_helpers import (batch, build,
                                          single_stage_detector_cfg,
                                          two_stage_detector_cfg)


def amplifier(detector_cfg):
    torch.manual_seed(0)
    model = build(dict(type='mmkd_dense.HFAmplifierDetector',
                       detector=detector_cfg))
    model.init_weights()
    return model


class TestHFAmplifierDetector(unittest.TestCase):

    def test_features_are_high_frequency_of_neck(self):
        model = amplifier(single_stage_detector_cfg('retina'))
        self.assertIsInstance(model, HFAmplifierDetector)
        inputs, _ = batch(0)
        feats = model.extract_feat(inputs)
        det = model.detector
        model.detector.neck._forward_hooks.clear()  # plain neck output
        plain = det.neck(det.backbone(inputs))
        self.assertEqual(len(feats), len(plain))
        for hf, f in zip(feats, plain):
            torch.testing.assert_close(hf, high_frequency(f))

    def test_only_heads_train(self):
        for cfg in (single_stage_detector_cfg('retina'),
                    two_stage_detector_cfg()):
            with self.subTest(type=cfg['type']):
                model = amplifier(cfg)
                model.train()
                det = model.detector
                self.assertFalse(det.backbone.training)
                self.assertFalse(det.neck.training)
                heads = [m for n, m in det.named_children()
                         if n.endswith('head')]
                self.assertTrue(all(h.training for h in heads))
                inputs, samples = batch(1)
                losses = model(inputs, samples, mode='loss')
                total = sum(v if torch.is_tensor(v) else sum(v)
                            for k, v in losses.items() if 'loss' in k)
                self.assertTrue(torch.isfinite(total))
                total.backward()
                for name in ('backbone', 'neck'):
                    for p in getattr(det, name).parameters():
                        self.assertFalse(p.requires_grad)
                        self.assertIsNone(p.grad)
                grads = [p.grad for h in heads for p in h.parameters()]
                self.assertTrue(any(g is not None and float(g.abs().sum()) > 0
                                    for g in grads))

    def test_predict_mode(self):
        model = amplifier(single_stage_detector_cfg('retina'))
        model.eval()
        inputs, samples = batch(2)
        with torch.no_grad():
            out = model(inputs, samples, mode='predict')
        self.assertEqual(len(out), 2)
        self.assertIn('pred_instances', out[0])

    def test_loads_teacher_checkpoint_keys(self):
        """load_from = teacher checkpoint: plain detector keys are mapped
        under ``detector.``; own checkpoints load too."""
        cfg = single_stage_detector_cfg('retina')
        torch.manual_seed(5)
        teacher = build(cfg)
        model = amplifier(cfg)
        from mmengine.runner.checkpoint import load_state_dict
        load_state_dict(model, teacher.state_dict(), strict=True)
        for name, value in teacher.state_dict().items():
            torch.testing.assert_close(model.state_dict()['detector.' + name],
                                       value)
        other = amplifier(cfg)
        other.load_state_dict(model.state_dict(), strict=True)
        torch.testing.assert_close(
            other.detector.bbox_head.retina_cls.weight,
            teacher.bbox_head.retina_cls.weight)

    def test_load_amplifier_head_from_config_file(self):
        """The student stage rebuilds the head from the amplifier config
        file and loads ``detector.bbox_head.*`` from its checkpoint."""
        cfg = single_stage_detector_cfg('gfl')
        model = amplifier(cfg)
        with tempfile.TemporaryDirectory() as tmp:
            cfg_path = osp.join(tmp, 'amp.py')
            with open(cfg_path, 'w') as f:
                f.write('model = ' + repr(dict(
                    type='mmkd_dense.HFAmplifierDetector', detector=cfg)))
            ckpt = osp.join(tmp, 'epoch_1.pth')
            torch.save(dict(state_dict=model.state_dict()), ckpt)
            self.assertEqual(amplifier_detector_cfg(cfg_path, 'x')['type'],
                             'GFL')
            head = load_amplifier_head(cfg_path, ckpt, 'bbox_head')
            with self.assertRaisesRegex(KeyError, 'roi_head'):
                load_amplifier_head(cfg_path, ckpt, 'roi_head')
        self.assertFalse(head.training)
        for name, value in head.state_dict().items():
            torch.testing.assert_close(
                value, model.state_dict()['detector.bbox_head.' + name])
        self.assertTrue(all(not p.requires_grad for p in head.parameters()))

    def test_errors(self):
        cfg = single_stage_detector_cfg('retina')
        with self.assertRaisesRegex(ValueError, 'frozen_modules'):
            build(dict(type='mmkd_dense.HFAmplifierDetector', detector=cfg,
                       frozen_modules=('backbone', 'nek')))
        with self.assertRaises(FileNotFoundError):
            build(dict(type='mmkd_dense.HFAmplifierDetector',
                       detector=dict(cfg_file='configs/none.py')))


if __name__ == '__main__':
    unittest.main()
