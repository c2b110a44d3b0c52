# Copyright (c) mmkd_dense contributors. All rights reserved.
"""FeatureAdapter: the 1x1 map, initialisation, errors, and its place in a
distillation model (trained with the student, outside the exported
student, gradients never reaching the teacher)."""
import os.path as osp
import unittest

import torch
from mmengine.config import Config

import mmkd_dense  # noqa: F401
from mmkd_dense.models.connectors import FeatureAdapter
from mmkd_dense.registry import MODELS
from mmkd_dense.testing import build_model_from_cfg, run_dummy_train_steps
from mmrazor.models.architectures.connectors.base_connector import \
    BaseConnector  # noqa: I001  (after mmkd_dense: compat shims)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
DEMO = osp.join(REPO, 'configs/lsfi_mdc/'
                'lsfi-mdc_fpn_retina-r18c32_retina-r18c16_12e_digits.py')


class TestFeatureAdapter(unittest.TestCase):

    def test_is_a_1x1_affine_map(self):
        adapter = FeatureAdapter(3, 2)
        with torch.no_grad():
            adapter.conv.weight.copy_(
                torch.tensor([[1., 2., 0.], [0., -1., 0.5]]).view(2, 3, 1, 1))
            adapter.conv.bias.copy_(torch.tensor([0.5, -1.]))
        x = torch.tensor([1., 2., 4.]).view(1, 3, 1, 1).expand(2, 3, 2, 5)
        out = adapter(x)
        self.assertEqual(tuple(out.shape), (2, 2, 2, 5))
        # [1 + 4 + 0 + 0.5, -2 + 2 - 1] at every position
        self.assertTrue(torch.allclose(out[:, 0], torch.full((2, 2, 5), 5.5)))
        self.assertTrue(torch.allclose(out[:, 1], torch.full((2, 2, 5), -1.)))

    def test_identity_init(self):
        x = torch.randn(2, 8, 3, 4)
        adapter = FeatureAdapter(8, 8, init_mode='identity')
        self.assertTrue(torch.equal(adapter(x), x))

    def test_kaiming_init(self):
        adapter = FeatureAdapter(256, 128)
        self.assertTrue(torch.all(adapter.conv.bias == 0))
        # Kaiming normal, fan_out = 128 for a 1x1 conv: std = sqrt(2/128)
        std = adapter.conv.weight.std().item()
        self.assertAlmostEqual(std, (2 / 128)**0.5, delta=0.1 * std)
        no_bias = FeatureAdapter(4, 4, bias=False)
        self.assertIsNone(no_bias.conv.bias)

    def test_errors(self):
        with self.assertRaisesRegex(ValueError, 'in_channels'):
            FeatureAdapter(8, 4)(torch.randn(1, 6, 2, 2))
        with self.assertRaisesRegex(ValueError, 'identity'):
            FeatureAdapter(8, 4, init_mode='identity')
        with self.assertRaisesRegex(ValueError, 'init_mode'):
            FeatureAdapter(8, 8, init_mode='xavier')
        with self.assertRaisesRegex(ValueError, 'positive'):
            FeatureAdapter(0, 8)

    def test_stateless(self):
        """No output cache: every call runs the conv (the distiller
        memoises connector outputs within one step instead)."""
        adapter = FeatureAdapter(4, 3)
        calls = []
        adapter.conv.register_forward_hook(lambda *args: calls.append(1))
        x = torch.randn(2, 4, 3, 3)
        first = adapter(x)
        second = adapter(x)
        self.assertIsNot(second, first)
        self.assertTrue(torch.equal(second, first))
        self.assertEqual(len(calls), 2)
        # weights changed in place: the next call sees them
        with torch.no_grad():
            adapter.conv.weight.add_(1.)
        self.assertFalse(torch.allclose(adapter(x), first))
        self.assertFalse(hasattr(adapter, '_last'))

    def test_reuse_output_is_deprecated_and_ignored(self):
        with self.assertWarnsRegex(DeprecationWarning, 'reuse_output'):
            adapter = FeatureAdapter(4, 3, reuse_output=True)
        x = torch.randn(1, 4, 2, 2)
        self.assertIsNot(adapter(x), adapter(x))

    def test_picklable(self):
        import pickle
        adapter = FeatureAdapter(4, 4)
        x = torch.randn(1, 4, 2, 2)
        out = adapter(x)
        clone = pickle.loads(pickle.dumps(adapter))
        self.assertTrue(torch.equal(clone(x), out))

    def test_registered_connector(self):
        self.assertIsInstance(FeatureAdapter(2, 2), BaseConnector)
        built = MODELS.build(
            dict(type='mmkd_dense.FeatureAdapter', in_channels=4, out_channels=6))
        self.assertIsInstance(built, FeatureAdapter)
        self.assertEqual(built.conv.out_channels, 6)


class TestFeatureAdapterInDistillation(unittest.TestCase):
    """The digits-demo LSFI + MDC-KD config: student FPN 32 ch, teacher 64,
    so the adapters really change the channel number."""

    @classmethod
    def setUpClass(cls):
        cls.model = build_model_from_cfg(Config.fromfile(DEMO))

    def test_gradients_reach_student_and_adapters_not_teacher(self):
        model = self.model
        model.zero_grad(set_to_none=True)
        calls = []
        hooks = [
            model.distiller.connectors[f'adapter_fpn{i}'].conv.
            register_forward_hook(lambda *args, i=i: calls.append(i))
            for i in range(3)
        ]
        try:
            history = run_dummy_train_steps(
                model, num_steps=1, num_classes=10, input_shape=(96, 128))
        finally:
            for hook in hooks:
                hook.remove()
        # LSFI and MDC read the same adapted level: one conv run per level
        self.assertEqual(sorted(calls), [0, 1, 2])
        keys = set(history[0])
        for i in range(3):
            self.assertIn(f'distill.loss_lsfi_fpn{i}', keys)
            self.assertIn(f'distill.loss_mdc_fpn{i}', keys)
        for i in range(3):
            adapter = model.distiller.connectors[f'adapter_fpn{i}']
            self.assertIsInstance(adapter, FeatureAdapter)
            self.assertGreater(adapter.conv.weight.grad.abs().sum().item(),
                               0)
        neck_grads = [p.grad for p in model.student.neck.parameters()]
        self.assertTrue(any(g is not None and g.abs().sum() > 0
                            for g in neck_grads))
        self.assertTrue(all(p.grad is None
                            for p in model.teacher.parameters()))

    def test_adapters_are_not_part_of_the_student(self):
        model = self.model
        full = model.state_dict()
        self.assertIn('distiller.connectors.adapter_fpn0.conv.weight', full)
        student_keys = model.student.state_dict().keys()
        self.assertFalse(any('adapter' in k or 'connectors' in k
                             for k in student_keys))
        # exporting = keeping the ``architecture.`` weights
        exported = {
            k[len('architecture.'):]: v
            for k, v in full.items() if k.startswith('architecture.')
        }
        self.assertEqual(set(exported), set(student_keys))


if __name__ == '__main__':
    unittest.main()
