# Copyright (c) mmkd_dense contributors. All rights reserved.
"""A config that sets a renamed loss argument fails with the new name."""
import inspect
import unittest

import mmkd_dense  # noqa: F401  (registers the losses)
from mmkd_dense.models.utils import renamed_args
from mmkd_dense.registry import MODELS

#: class -> {old: new} (docs/adding_a_method.md, "Naming")
RENAMED = {
    'FGDLoss': dict(temp='temperature'),
    'LSFILoss': dict(temp='temperature'),
    'KDKLDivLoss': dict(T='temperature'),
    'MDCLoss': dict(lambda_g='global_weight', lambda_l='local_weight'),
    'DS2D2ExplicitLoss': dict(loss_weight_ll='ll_weight',
                              loss_weight_hf='hf_weight'),
    'DS2D2DenseImplicitLoss': dict(loss_cls_weight='cls_weight',
                                   loss_reg_weight='reg_weight',
                                   beta='qfl_beta'),
    'DS2D2RoIImplicitLoss': dict(loss_cls_weight='cls_weight',
                                 loss_reg_weight='reg_weight'),
    'CIDLoss': dict(box_weight='reg_weight'),
    'CIDRoILoss': dict(box_weight='reg_weight'),
}


class TestRenamedArgs(unittest.TestCase):

    def test_old_name_in_a_config_names_the_new_one(self):
        for name, renames in RENAMED.items():
            cls = MODELS.get(f'mmkd_dense.{name}')
            self.assertEqual(cls._renamed_args, renames, name)
            params = inspect.signature(cls).parameters
            for old, new in renames.items():
                with self.subTest(name=name, old=old):
                    self.assertIn(new, params)
                    self.assertNotIn(old, params)
                    with self.assertRaisesRegex(
                            TypeError,
                            f'{name}: "{old}" was renamed to "{new}"'):
                        MODELS.build({'type': f'mmkd_dense.{name}', old: 1.0})

    def test_new_names_build(self):
        loss = MODELS.build(
            dict(type='mmkd_dense.MDCLoss', global_weight=2., local_weight=3.))
        self.assertEqual((loss.global_weight, loss.local_weight), (2., 3.))
        loss = MODELS.build(dict(type='mmkd_dense.KDKLDivLoss', temperature=2))
        self.assertEqual(loss.temperature, 2)

    def test_decorator(self):

        @renamed_args(a='b', c='d')
        class Thing:

            def __init__(self, x, b=1, d=2):
                self.x, self.b, self.d = x, b, d

        self.assertEqual(list(inspect.signature(Thing).parameters),
                         ['x', 'b', 'd'])
        self.assertEqual(Thing(0, b=3).b, 3)
        with self.assertRaisesRegex(
                TypeError, 'Thing: "a" was renamed to "b"; '
                'Thing: "c" was renamed to "d"'):
            Thing(0, a=3, c=4)
        # other mistakes keep Python's own message
        with self.assertRaisesRegex(TypeError, 'unexpected keyword'):
            Thing(0, e=1)


if __name__ == '__main__':
    unittest.main()
