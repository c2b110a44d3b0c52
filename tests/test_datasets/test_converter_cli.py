# Copyright (c) mmkd_dense contributors. All rights reserved.
"""The command-line wrappers in tools/dataset_converters/."""
import contextlib
import importlib.util
import io
import json
import os.path as osp
import tempfile
import unittest

import mmkd_dense  # noqa: F401

from .official_format import dota_line, write_dota, write_visdrone

TOOLS = osp.join(osp.dirname(__file__), '..', '..', 'tools',
                 'dataset_converters')


def _tool(name):
    spec = importlib.util.spec_from_file_location(
        f'_tool_{name}', osp.join(TOOLS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestConverterCLI(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def test_dota_split_cli_progress(self):
        src = osp.join(self.tmp.name, 'DOTA', 'val')
        out = osp.join(self.tmp.name, 'DOTA', 'split_1024')
        line = dota_line(1, 1, 40, 30, 'plane')
        write_dota(src, {'P0001': (300, 200, [line])})
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            _tool('dota_split').main([src, out, '--split', 'val'])
        text = buf.getvalue()
        self.assertIn('[1/1] P0001.png: 1 patches, 1 objects', text)
        self.assertIn('1 images -> 1 patches', text)
        with open(osp.join(out, 'annotations', 'val_full.json')) as f:
            self.assertEqual(len(json.load(f)['annotations']), 1)

    def test_visdrone_cli_root(self):
        root = osp.join(self.tmp.name, 'VisDrone')
        for split in ('train', 'val'):
            write_visdrone(osp.join(root, f'VisDrone2019-DET-{split}'),
                           {'a': (64, 48, ['1,2,10,10,1,4,0,0'])})
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            _tool('visdrone2coco').main([root])
        for split in ('train', 'val'):
            path = osp.join(root, 'annotations',
                            f'VisDrone2019-DET_{split}.json')
            self.assertTrue(osp.isfile(path), buf.getvalue())
        self.assertIn('1 images, 1 objects, 0 ignore regions',
                      buf.getvalue())

    def test_cityscapes_cli_missing_folder(self):
        with self.assertRaisesRegex(FileNotFoundError, 'gtFine'):
            _tool('cityscapes').main([osp.join(self.tmp.name, 'none')])


if __name__ == '__main__':
    unittest.main()
