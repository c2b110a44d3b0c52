# Copyright (c) mmkd_dense contributors. All rights reserved.
"""``mmkd_dense.utils.amp``: the optimizer-wrapper choice of
``configure_amp`` per device (float16 + loss scaler on CUDA, bfloat16
autocast without a scaler on CPU) and the errors it raises."""
import unittest

import torch
from mmengine.config import Config

import mmkd_dense  # noqa: F401
from mmkd_dense.utils.amp import AutocastOptimWrapper, configure_amp


class TestConfigureAmp(unittest.TestCase):

    def _cfg(self, **wrapper):
        return Config(dict(optim_wrapper=dict(
            dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01),
                 clip_grad=dict(max_norm=35)), **wrapper)))

    def test_cuda_float16_with_loss_scaler(self):
        cfg = self._cfg()
        self.assertEqual(configure_amp(cfg, device='cuda'), 'float16')
        wrapper = cfg.optim_wrapper
        self.assertEqual(wrapper.type, 'AmpOptimWrapper')
        self.assertEqual(wrapper.loss_scale, 'dynamic')
        self.assertEqual(wrapper.dtype, 'float16')
        self.assertEqual(wrapper.clip_grad, dict(max_norm=35))
        # a configured static scale is kept
        cfg = self._cfg(type='AmpOptimWrapper', loss_scale=512.)
        configure_amp(cfg, device='cuda')
        self.assertEqual(cfg.optim_wrapper.loss_scale, 512.)

    def test_cpu_bfloat16_without_loss_scaler(self):
        cfg = self._cfg(type='AmpOptimWrapper', loss_scale='dynamic')
        self.assertEqual(configure_amp(cfg, device='cpu'), 'bfloat16')
        wrapper = cfg.optim_wrapper
        self.assertEqual(wrapper.type, 'mmkd_dense.AutocastOptimWrapper')
        self.assertEqual(wrapper.dtype, 'bfloat16')
        self.assertNotIn('loss_scale', wrapper)
        # builds through mmengine's registry from the mmdet scope
        from mmengine.optim import build_optim_wrapper
        from mmengine.registry import DefaultScope
        model = torch.nn.Linear(2, 2)
        with DefaultScope.overwrite_default_scope('mmdet'):
            built = build_optim_wrapper(model, wrapper)
        self.assertIsInstance(built, AutocastOptimWrapper)
        self.assertEqual(built.clip_grad_kwargs, dict(max_norm=35))
        with built.optim_context(model):
            self.assertTrue(torch.is_autocast_enabled('cpu'))
            self.assertEqual(model(torch.randn(1, 2)).dtype, torch.bfloat16)
        self.assertFalse(torch.is_autocast_enabled('cpu'))

    def test_unsupported_wrapper_and_dtype(self):
        cfg = self._cfg(type='OptimWrapperDict')
        with self.assertRaisesRegex(ValueError, 'OptimWrapperDict'):
            configure_amp(cfg, device='cpu')
        with self.assertRaisesRegex(ValueError, 'AmpOptimWrapper'):
            AutocastOptimWrapper(
                dtype='float16',
                optimizer=torch.optim.SGD([torch.nn.Parameter(
                    torch.zeros(1))], lr=0.1))


if __name__ == '__main__':
    unittest.main()
