# Copyright (c) mmkd_dense contributors. All rights reserved.
"""``--amp`` on CPU: each method's demo config trains 2 iterations with
bfloat16 autocast (``configure_amp``, the function ``tools/train.py --amp``
calls), on tiny digits images (the optimizer-wrapper choice per device is
tested in ``tests/test_utils/test_amp.py``)."""
import math
import os.path as osp
import tempfile
import unittest

import torch
from mmengine.config import Config

import mmkd_dense  # noqa: F401
from mmkd_dense.demo import generate_digits_dataset
from mmkd_dense.testing import build_model_from_cfg, shrink_config
from mmkd_dense.utils.amp import AutocastOptimWrapper, configure_amp
from mmkd_dense.utils.run_log import build_runner
from ._helpers import REPO, read_scalars

DEMO_TEACHER = 'configs/demo/retinanet_r18c32_fpn_12e_digits.py'
DEMO_CONFIGS = {
    'fgd': 'configs/demo/fgd_fpn_retina-r18c32_retina-r18c16_12e_digits.py',
    'lsfi_mdc': 'configs/lsfi_mdc/'
    'lsfi-mdc_fpn_retina-r18c32_retina-r18c16_12e_digits.py',
    'ds2d2': 'configs/ds2d2/'
    'ds2d2_fpn_retina-r18c32_retina-r18c16-fpn64_12e_digits.py',
    'cid_lightml': 'configs/cid_lightml/'
    'cid-lightml_head_retina-r18c32_retina-r18c16_12e_digits.py',
    'cid_lightml_fgd': 'configs/cid_lightml/'
    'cid-lightml-fgd_head-fpn_retina-r18c32_retina-r18c16_12e_digits.py',
}


class TestCPUAmpTraining(unittest.TestCase):
    """2 iterations of each demo KD config under bfloat16 autocast."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.data = osp.join(cls.tmp.name, 'digits')
        generate_digits_dataset(cls.data, num_train=4, num_val=2)
        teacher = build_model_from_cfg(
            Config.fromfile(osp.join(REPO, DEMO_TEACHER)))
        cls.teacher_ckpt = osp.join(cls.tmp.name, 'teacher.pth')
        torch.save(dict(state_dict=teacher.state_dict(), meta={}),
                   cls.teacher_ckpt)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def _train(self, name):
        work = osp.join(self.tmp.name, name)
        config = Config.fromfile(osp.join(REPO, DEMO_CONFIGS[name]))
        cfg = shrink_config(config, self.data, work, image_scale=(64, 64))
        cfg.model.teacher_ckpt = self.teacher_ckpt
        for loss in cfg.model.distiller.distill_losses.values():
            if loss.get('amplifier_ckpt'):  # DS2D2 HF amplifier: random
                loss.amplifier_ckpt = None
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
        cfg.default_hooks.checkpoint = None
        self.assertEqual(configure_amp(cfg, device='cpu'), 'bfloat16')

        runner = build_runner(cfg)
        model = runner.model
        seen = {'neck': [], 'losses': []}
        model.architecture.neck.register_forward_hook(
            lambda m, i, out: seen['neck'].append(out[0].dtype))
        for loss in model.distiller.distill_losses.values():
            loss.register_forward_hook(
                lambda m, i, out: seen['losses'].append(out))
        runner.train()
        self.assertIsInstance(runner.optim_wrapper, AutocastOptimWrapper)

        # autocast really ran: the student's FPN computed in bfloat16
        self.assertTrue(seen['neck'])
        self.assertEqual(set(seen['neck']), {torch.bfloat16})
        # the distillation losses came out float32 and finite
        self.assertTrue(seen['losses'])
        for out in seen['losses']:
            self.assertEqual(out.dtype, torch.float32)
            self.assertTrue(torch.isfinite(out).all())
        records = [r for r in read_scalars(work) if 'loss' in r]
        self.assertEqual(len(records), 2)
        for record in records:
            for key, value in record.items():
                if 'loss' in key:
                    self.assertTrue(math.isfinite(value), (key, value))
            self.assertTrue(any(k.startswith('distill.') for k in record))
        for param in model.architecture.parameters():
            self.assertTrue(torch.isfinite(param).all())

    def test_fgd(self):
        self._train('fgd')

    def test_lsfi_mdc(self):
        self._train('lsfi_mdc')

    def test_ds2d2(self):
        self._train('ds2d2')

    def test_cid_lightml(self):
        self._train('cid_lightml')

    def test_cid_lightml_fgd(self):
        self._train('cid_lightml_fgd')


if __name__ == '__main__':
    unittest.main()
