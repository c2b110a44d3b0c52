# Copyright (c) mmkd_dense contributors. All rights reserved.
import unittest

from mmkd_dense.models.utils import IterationInterval


class TestIterationInterval(unittest.TestCase):

    def test_every_kth_call_scaled_by_k(self):
        schedule = IterationInterval(3)
        scales = [schedule.step() for _ in range(7)]
        self.assertEqual(scales, [3.0, 0.0, 0.0, 3.0, 0.0, 0.0, 3.0])
        # the average scale is 1: same expected KD gradient as interval 1
        self.assertEqual(sum(scales[:6]) / 6, 1.0)

    def test_offset_staggers_two_losses(self):
        first = IterationInterval(3, offset=0)
        second = IterationInterval(3, offset=1)
        pairs = [(first.step(), second.step()) for _ in range(6)]
        self.assertEqual(pairs, [(3.0, 0.0), (0.0, 3.0), (0.0, 0.0)] * 2)
        for bad in (-1, 3, 1.0):
            with self.subTest(offset=bad):
                with self.assertRaisesRegex(ValueError,
                                            'loss_x.interval_offset'):
                    IterationInterval(3, key='loss_x.interval', offset=bad)

    def test_interval_one_always_on(self):
        schedule = IterationInterval(1)
        self.assertEqual([schedule.step() for _ in range(4)], [1.0] * 4)

    def test_eval_calls_computed_and_not_counted(self):
        schedule = IterationInterval(2)
        self.assertEqual(schedule.step(), 2.0)
        self.assertEqual(schedule.step(training=False), 1.0)
        self.assertEqual(schedule.step(), 0.0)  # phase unchanged by eval
        self.assertEqual(schedule.step(), 2.0)

    def test_invalid_interval_names_key(self):
        for bad in (0, -2, 1.5, '3', True, None):
            with self.subTest(interval=bad):
                with self.assertRaisesRegex(ValueError, 'loss_x.interval'):
                    IterationInterval(bad, key='loss_x.interval')


if __name__ == '__main__':
    unittest.main()
