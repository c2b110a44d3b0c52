# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Converter command lines refuse unsafe outputs and empty inputs: exit
status 1, a message naming the paths, nothing written or left behind."""
import contextlib
import glob
import io
import os
import os.path as osp
import subprocess
import sys
import tempfile
import unittest

import mmkd_dense  # noqa: F401
from mmkd_dense.datasets.converters._io import write_json_atomic

from .official_format import (dota_line, file_digest, write_cityscapes,
                              write_dota, write_visdrone)
from .test_converter_cli import TOOLS, _tool

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _cli(name, argv):
    """Run ``tools/dataset_converters/<name>.py``'s ``cli(argv)``: (exit
    status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = _tool(name).cli(argv)
    return rc, out.getvalue(), err.getvalue()


def _all_files(folder):
    return sorted(
        osp.relpath(osp.join(r, n), folder) for r, _, names in
        os.walk(folder) for n in names)


class TestDotaSplitRefusesOverlappingFolders(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.src = osp.join(self.tmp.name, 'DOTA', 'train')
        write_dota(self.src, {'P0001': (300, 200,
                                        [dota_line(1, 1, 40, 30, 'plane')])})
        self.before = file_digest(osp.join(self.tmp.name, 'DOTA'))

    def tearDown(self):
        self.tmp.cleanup()

    def _refused(self, out, how):
        rc, stdout, stderr = _cli('dota_split',
                                  [self.src, out, '--split', 'train'])
        self.assertEqual(rc, 1, stderr)
        self.assertIn(f'the output folder out={out} {how} the input folder '
                      f'src={self.src}', stderr)
        self.assertNotIn('Traceback', stderr)
        # nothing written anywhere under DOTA/, inputs untouched
        self.assertEqual(file_digest(osp.join(self.tmp.name, 'DOTA')),
                         self.before)
        self.assertEqual(sorted(os.listdir(self.src)), ['images', 'labelTxt'])

    def test_same_folder(self):
        self._refused(self.src, 'is the same folder as')

    def test_same_folder_through_symlink(self):
        link = osp.join(self.tmp.name, 'link')
        os.symlink(self.src, link)
        self._refused(link, 'is the same folder as')

    def test_out_inside_src(self):
        self._refused(osp.join(self.src, 'split_1024'), 'is inside')
        self.assertFalse(osp.exists(osp.join(self.src, 'split_1024')))

    def test_src_inside_out(self):
        self._refused(osp.join(self.tmp.name, 'DOTA'), 'contains')

    def test_real_process_exit_status(self):
        proc = subprocess.run(
            [sys.executable, osp.join(TOOLS, 'dota_split.py'), self.src,
             self.src, '--split', 'train'],
            capture_output=True, text=True, cwd=REPO, timeout=300)
        self.assertEqual(proc.returncode, 1)
        self.assertIn('dota_split: error: Refusing to write', proc.stderr)
        self.assertNotIn('Traceback', proc.stderr)


class TestVisDroneOutFolder(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.split = osp.join(self.tmp.name, 'VisDrone',
                              'VisDrone2019-DET-val')
        write_visdrone(self.split, {'a': (64, 48, ['1,2,10,10,1,4,0,0'])})

    def tearDown(self):
        self.tmp.cleanup()

    def test_out_folder_with_overwrite_leaves_no_temp_file(self):
        out_dir = osp.join(self.tmp.name, 'out')
        os.makedirs(out_dir)
        for _ in range(2):  # second time replaces the first output
            rc, stdout, stderr = _cli(
                'visdrone2coco', [self.split, '--out', out_dir,
                                  '--overwrite'])
            self.assertEqual(rc, 0, stderr)
        self.assertEqual(_all_files(out_dir), ['VisDrone2019-DET_val.json'])
        self.assertIn(osp.join(out_dir, 'VisDrone2019-DET_val.json'), stdout)
        self.assertEqual(glob.glob(osp.join(self.tmp.name, '**', '*.tmp*'),
                                   recursive=True), [])

    def test_json_to_a_folder_fails_cleanly(self):
        # the cause of the stray file: os.replace(tmp, <folder>) failed
        # after the temporary json was written
        folder = osp.join(self.tmp.name, 'a_folder')
        os.makedirs(folder)
        with self.assertRaisesRegex(IsADirectoryError, 'a_folder'):
            write_json_atomic(dict(a=1), folder)
        with self.assertRaises(TypeError):  # fails half-way through dump
            write_json_atomic(dict(a=object()), osp.join(folder, 'x.json'))
        self.assertEqual(os.listdir(folder), [])
        self.assertEqual(glob.glob(osp.join(self.tmp.name, '*.tmp*')), [])


class TestCityscapesEmptySplit(unittest.TestCase):

    def setUp(self):
        try:
            import cityscapesscripts  # noqa: F401
        except ImportError:  # pragma: no cover
            self.skipTest('cityscapesscripts not installed')
        self.tmp = tempfile.TemporaryDirectory()
        self.root = osp.join(self.tmp.name, 'cityscapes')

    def tearDown(self):
        self.tmp.cleanup()

    def test_empty_split_is_an_error(self):
        big = [('car', [[10, 10], [60, 10], [60, 50], [10, 50]])]
        write_cityscapes(self.root, 'train', 'aachen',
                         {'aachen_000000_000019': big})
        # val exists but holds no city folder with polygons
        os.makedirs(osp.join(self.root, 'gtFine', 'val'))
        os.makedirs(osp.join(self.root, 'leftImg8bit', 'val'))
        rc, stdout, stderr = _cli('cityscapes', [self.root, '--splits',
                                                 'train', 'val'])
        self.assertEqual(rc, 1, stderr)
        gt_val = osp.join(self.root, 'gtFine', 'val')
        self.assertIn("Cityscapes split 'val' is empty", stderr)
        self.assertIn(gt_val, stderr)
        self.assertIn('nothing was written', stderr)
        # train was converted, no json for val
        self.assertEqual(os.listdir(osp.join(self.root, 'annotations')),
                         ['instancesonly_filtered_gtFine_train.json'])


if __name__ == '__main__':
    unittest.main()
