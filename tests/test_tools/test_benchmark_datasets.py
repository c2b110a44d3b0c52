# Copyright (c) mmkd_dense contributors. All rights reserved.
"""benchmark_datasets.py: the UAVDT job converts what it generated."""
import json
import os.path as osp
import tempfile
import unittest

from .tool_helpers import load_tool


class TestBenchmarkDatasets(unittest.TestCase):

    def test_uavdt_job(self):
        tool = load_tool('tools/analysis_tools/benchmark_datasets.py')
        with tempfile.TemporaryDirectory() as tmp:
            res = tool.bench_uavdt(tmp, num_frames=12, repeats=2,
                                   num_seqs=3, objects=5)
            with open(osp.join(tmp, 'uavdt.json')) as f:
                data = json.load(f)
        # 3 sequences x 4 frames, 5 objects + 1 ignore region per frame
        self.assertEqual((res['frames'], res['lines']), (12, 72))
        self.assertEqual(len(data['images']), 12)
        self.assertEqual(
            sum(1 for a in data['annotations'] if not a['iscrowd']), 60)
        self.assertEqual(
            len({a['ignore_region_id'] for a in data['annotations']
                 if a['iscrowd']}), 12)
        self.assertGreater(res['frames_per_second'], 0)


if __name__ == '__main__':
    unittest.main()
