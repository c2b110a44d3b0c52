# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Haar DWT (fixed depthwise conv) against PyWavelets and by hand."""
import unittest

import numpy as np
import pywt
import torch
import torch.nn.functional as F

import mmkd_dense  # noqa: F401
from mmkd_dense.models.utils.haar_wavelet import (haar_dwt2d, haar_kernels,
                                                  high_frequency)


def pywt_dwt2(x: torch.Tensor):
    """Per-channel ``pywt.dwt2(., 'haar', mode='zero')`` (float64)."""
    n, c = x.shape[:2]
    arr = x.double().numpy()
    lows, highs = [], []
    for i in range(n):
        for j in range(c):
            cA, (cH, cV, cD) = pywt.dwt2(arr[i, j], 'haar', mode='zero')
            lows.append(cA)
            highs.append(np.stack([cH, cV, cD]))
    h2, w2 = lows[0].shape
    low = torch.from_numpy(np.stack(lows)).view(n, c, h2, w2)
    high = torch.from_numpy(np.stack(highs)).view(n, c, 3, h2, w2)
    return low, high


class TestHaarDWT(unittest.TestCase):

    def test_matches_pywavelets_even_and_odd_sizes(self):
        gen = torch.Generator().manual_seed(0)
        for shape in [(2, 3, 8, 10), (1, 4, 7, 9), (2, 2, 5, 6), (1, 3, 6, 1),
                      (1, 2, 1, 1), (2, 5, 13, 4)]:
            with self.subTest(shape=shape):
                x = torch.randn(*shape, generator=gen, dtype=torch.float64)
                low, high = haar_dwt2d(x)
                ref_low, ref_high = pywt_dwt2(x)
                h2, w2 = (shape[2] + 1) // 2, (shape[3] + 1) // 2
                self.assertEqual(tuple(low.shape), (*shape[:2], h2, w2))
                self.assertEqual(tuple(high.shape), (*shape[:2], 3, h2, w2))
                # same sign and band order as pywt (cH, cV, cD)
                torch.testing.assert_close(low, ref_low, rtol=0, atol=1e-12)
                torch.testing.assert_close(high, ref_high, rtol=0,
                                           atol=1e-12)

    def test_float32_matches_pywavelets(self):
        gen = torch.Generator().manual_seed(1)
        x = torch.randn(2, 8, 11, 16, generator=gen)
        low, high = haar_dwt2d(x)
        ref_low, ref_high = pywt_dwt2(x)
        torch.testing.assert_close(low.double(), ref_low, rtol=1e-5,
                                   atol=1e-5)
        torch.testing.assert_close(high.double(), ref_high, rtol=1e-5,
                                   atol=1e-5)

    def test_hand_computed_block_and_odd_padding(self):
        # [[a, b, e], [c, d, f]] = [[1, 2, 5], [3, 4, 6]]
        x = torch.tensor([[[[1., 2., 5.], [3., 4., 6.]]]])
        low, high = haar_dwt2d(x)
        torch.testing.assert_close(low, torch.tensor([[[[5.0, 5.5]]]]))
        expected = torch.tensor([[-2.0, -0.5], [-1.0, 5.5], [0.0, -0.5]])
        torch.testing.assert_close(high[0, 0, :, 0], expected)

    def test_orthonormal(self):
        kernels = haar_kernels(torch.float64).view(4, 4)
        torch.testing.assert_close(kernels @ kernels.t(),
                                   torch.eye(4, dtype=torch.float64))
        # energy is preserved for even sizes (Parseval)
        x = torch.randn(2, 3, 8, 6, dtype=torch.float64)
        low, high = haar_dwt2d(x)
        self.assertAlmostEqual(float((x**2).sum()),
                               float((low**2).sum() + (high**2).sum()),
                               places=9)

    def test_gradient_flows(self):
        x = torch.randn(1, 2, 5, 7, requires_grad=True)
        low, high = haar_dwt2d(x)
        (low.sum() + high.sum()).backward()
        self.assertEqual(x.grad.shape, x.shape)
        self.assertGreater(float(x.grad.abs().sum()), 0)


class TestHighFrequency(unittest.TestCase):

    def test_equals_upsampled_sum_of_bands(self):
        gen = torch.Generator().manual_seed(2)
        for shape in [(2, 3, 8, 10), (1, 4, 7, 9), (1, 2, 1, 1)]:
            with self.subTest(shape=shape):
                x = torch.randn(*shape, generator=gen, dtype=torch.float64)
                _, ref_high = pywt_dwt2(x)
                expected = F.interpolate(
                    ref_high.sum(2), size=shape[-2:], mode='bilinear',
                    align_corners=False)
                out = high_frequency(x)
                self.assertEqual(out.shape, x.shape)
                torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)

    def test_two_times_top_left_minus_block_mean(self):
        x = torch.tensor([[[[1., 2.], [3., 4.]]]])
        # 2 * (a - mean) = 2 * (1 - 2.5) = -3 on the single block; the
        # bilinear upsampling of a 1x1 map is constant.
        torch.testing.assert_close(high_frequency(x), torch.full_like(x, -3.))

    def test_constant_input_has_no_high_frequency(self):
        x = torch.full((1, 3, 6, 8), 7.0)
        torch.testing.assert_close(high_frequency(x), torch.zeros_like(x))


if __name__ == '__main__':
    unittest.main()
