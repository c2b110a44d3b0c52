# Copyright (c) mmkd_dense contributors. All rights reserved.
"""``python -m mmkd_dense.utils.check_install``: every check passes in the
installed environment, and a failing check is reported and counted."""
import subprocess
import sys
import unittest

PY = sys.executable


class TestCheckInstall(unittest.TestCase):

    def test_ready_environment(self):
        proc = subprocess.run(
            [PY, '-m', 'mmkd_dense.utils.check_install'],
            capture_output=True, text=True, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        for name in ('mmcv.ops.nms', 'mmcv.ops.RoIAlign', 'mmdet.models',
                     'mmrazor.models'):
            self.assertRegex(proc.stdout, rf'OK +{name}')

    def test_failure_is_reported(self):
        from mmkd_dense.utils import check_install

        def broken():
            raise RuntimeError('simulated missing op')

        saved = list(check_install.CHECKS)
        check_install.CHECKS[:] = [('simulated', broken)] + saved[:1]
        try:
            from contextlib import redirect_stdout
            from io import StringIO
            buf = StringIO()
            with redirect_stdout(buf):
                failures = check_install.run_checks(quiet=True)
        finally:
            check_install.CHECKS[:] = saved
        self.assertEqual(failures, 1)
        self.assertIn('FAIL  simulated', buf.getvalue())
        self.assertIn('simulated missing op', buf.getvalue())


if __name__ == '__main__':
    unittest.main()
