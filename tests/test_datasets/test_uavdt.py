# Copyright (c) mmkd_dense contributors. All rights reserved.
"""UAVDT: official-format files -> uavdt2coco -> COCO json -> dataset."""
import contextlib
import io
import json
import os
import os.path as osp
import tempfile
import unittest

import mmkd_dense  # noqa: F401
from mmkd_dense.datasets import BadInputError
from mmkd_dense.datasets.converters.uavdt import (UAVDT_CLASSES,
                                                  UAVDT_TEST_SEQUENCES,
                                                  UAVDT_TRAIN_SEQUENCES,
                                                  convert_uavdt_split,
                                                  read_uavdt_gt,
                                                  resolve_uavdt_sequences)

from .official_format import file_digest
from .test_converter_cli import _tool
from .uavdt_format import gt_line, ignore_line, write_uavdt

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
W, H = 216, 108

# M0101 (train): 4 frames; frame 4 has no object
M0101 = (4, [
    gt_line(1, 1, 10, 20, 30, 15, category=1, out_of_view=1, occlusion=2),
    gt_line(1, 2, 100, 50, 40, 20, category=2, out_of_view=2, occlusion=1),
    gt_line(2, 1, 12, 20, 30, 15, category=1),
    # sticks out right and bottom -> clipped to [200, 90, 16, 18]
    gt_line(3, 3, 200, 90, 30, 30, category=3, out_of_view=3, occlusion=4),
], [ignore_line(1, 150, 0, 60, 40), ignore_line(3, 0, 0, 20, 20)])
# M0203 (test): 2 frames, no ignore file
M0203 = (2, [gt_line(1, 7, 50, 40, 20, 10, category=1),
             gt_line(2, 7, 52, 40, 20, 10, category=1)], None)


def _load(path):
    with open(path) as f:
        return json.load(f)


class TestUAVDTReader(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def _file(self, lines):
        path = osp.join(self.tmp.name, 'M0101_gt_whole.txt')
        with open(path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        return path

    def test_fields(self):
        path = self._file([gt_line(3, 9, 1.5, 2, 30, 15, 2, 3, 4), '',
                           gt_line(4, 9, 5, 6, 7, 8, 3) + ','])
        out = read_uavdt_gt(path)
        self.assertEqual(out['frames'].tolist(), [3, 4])
        self.assertEqual(out['target_ids'].tolist(), [9, 9])
        self.assertEqual(out['boxes'].tolist(),
                         [[1.5, 2, 30, 15], [5, 6, 7, 8]])
        self.assertEqual(out['categories'].tolist(), [2, 3])
        self.assertEqual(out['out_of_view'].tolist(), [3, 1])
        self.assertEqual(out['occlusion'].tolist(), [4, 1])
        self.assertEqual(out['lines'].tolist(), [1, 3])

    def test_bad_lines_name_file_and_line(self):
        good = gt_line(1, 1, 1, 1, 5, 5)
        cases = [('1,1,10,20,30,15,1,1', 'wrong field count'),
                 ('1,1,10,x,30,15,1,1,1', 'malformed value'),
                 ('0,1,10,20,30,15,1,1,1', 'malformed value'),
                 ('1,1,10,20,0,15,1,1,1', 'negative size'),
                 (gt_line(1, 1, 1, 1, 5, 5, category=4), 'unknown class'),
                 (gt_line(1, 1, 1, 1, 5, 5, category=0), 'unknown class')]
        for line, kind in cases:
            with self.subTest(line=line):
                path = self._file([good, line])
                with self.assertRaises(BadInputError) as ctx:
                    read_uavdt_gt(path)
                self.assertEqual(ctx.exception.kind, kind)
                self.assertEqual(ctx.exception.line, 2)
                self.assertIn(f'{path}, line 2', str(ctx.exception))
                self.assertIn("on_bad_input='skip'", str(ctx.exception))

    def test_sequence_lists(self):
        self.assertEqual(len(UAVDT_TRAIN_SEQUENCES), 30)
        self.assertEqual(len(UAVDT_TEST_SEQUENCES), 20)
        self.assertFalse(
            set(UAVDT_TRAIN_SEQUENCES) & set(UAVDT_TEST_SEQUENCES))
        listing = osp.join(self.tmp.name, 'seqs.txt')
        with open(listing, 'w') as f:
            f.write('# my split\nM0203\n\nM0101  # comment\nM0203\n')
        self.assertEqual(resolve_uavdt_sequences(seq_list=listing),
                         ['M0101', 'M0203'])
        attr = osp.join(self.tmp.name, 'M_attr', 'test')
        os.makedirs(attr)
        for seq in ('M1401', 'M0205'):
            open(osp.join(attr, f'{seq}_attr.txt'), 'w').close()
        self.assertEqual(resolve_uavdt_sequences(seq_list=attr),
                         ['M0205', 'M1401'])
        with self.assertRaisesRegex(ValueError, "'train', 'test' or 'all'"):
            resolve_uavdt_sequences('val')
        with self.assertRaisesRegex(FileNotFoundError, 'nope'):
            resolve_uavdt_sequences(seq_list=osp.join(self.tmp.name, 'nope'))


class TestUAVDTConverter(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = osp.join(self.tmp.name, 'UAVDT')
        self.dirs = write_uavdt(self.root, {'M0101': M0101, 'M0203': M0203,
                                            'M9999': M0203}, size=(W, H))
        self.out = osp.join(self.tmp.name, 'out', 'train.json')

    def tearDown(self):
        self.tmp.cleanup()

    def _convert(self, seqs=('M0101', ), **kwargs):
        kwargs.setdefault('progress', False)
        return convert_uavdt_split(self.root, self.out, list(seqs), **kwargs)

    def _gt_path(self, seq='M0101', kind='whole'):
        return osp.join(self.dirs['gt_dir'], f'{seq}_gt_{kind}.txt')

    def _append(self, line, seq='M0101', kind='whole'):
        with open(self._gt_path(seq, kind), 'a') as f:
            f.write(line + '\n')

    def test_round_trip(self):
        stats = self._convert()
        self.assertEqual((stats['sequences'], stats['images'],
                          stats['objects'], stats['ignore_regions'],
                          stats['clipped']), (1, 4, 4, 2, 1))
        data = _load(self.out)
        self.assertEqual([c['name'] for c in data['categories']],
                         list(UAVDT_CLASSES))
        self.assertEqual([c['id'] for c in data['categories']], [1, 2, 3])
        self.assertEqual(
            [(i['id'], i['file_name'], i['width'], i['height'],
              i['sequence'], i['frame_id']) for i in data['images']],
            [(f, f'M0101/img{f:06d}.jpg', W, H, 'M0101', f)
             for f in (1, 2, 3, 4)])
        objects = [(a['image_id'], a['category_id'], a['bbox'],
                    a['target_id'], a['out_of_view'], a['occlusion'])
                   for a in data['annotations'] if not a['iscrowd']]
        self.assertEqual(objects, [
            (1, 1, [10, 20, 30, 15], 1, 1, 2),
            (1, 2, [100, 50, 40, 20], 2, 2, 1),
            (2, 1, [12, 20, 30, 15], 1, 1, 1),
            (3, 3, [200, 90, 16, 18], 3, 3, 4)])
        crowd = [(a['image_id'], a['category_id'], a['bbox'],
                  a['ignore_region_id'], a['area'])
                 for a in data['annotations'] if a['iscrowd']]
        self.assertEqual(crowd, [(1, c, [150, 0, 60, 40], 1, 2400.0)
                                 for c in (1, 2, 3)] +
                         [(3, c, [0, 0, 20, 20], 2, 400.0)
                          for c in (1, 2, 3)])
        ids = [a['id'] for a in data['annotations']]
        self.assertEqual(ids, list(range(1, len(ids) + 1)))
        self.assertEqual(data['info']['sequences'], ['M0101'])

    def test_frame_step_and_sequences(self):
        stats = self._convert(('M0101', 'M0203'), frame_step=2)
        data = _load(self.out)
        self.assertEqual([i['file_name'] for i in data['images']],
                         ['M0101/img000001.jpg', 'M0101/img000003.jpg',
                          'M0203/img000001.jpg'])
        self.assertEqual(stats['objects'], 4)  # frames 1, 3 + M0203 frame 1
        self.assertEqual(sorted({a['image_id'] for a in data['annotations']
                                 if not a['iscrowd']}), [1, 2, 3])
        self.assertEqual(stats['no_ignore_file'], ['M0203'])
        self.assertEqual(data['info']['frame_step'], 2)
        with self.assertRaisesRegex(ValueError, 'frame_step'):
            self._convert(frame_step=0, overwrite=True)

    def test_bad_input_raises_with_file_and_line(self):
        cases = [
            ('1,1,10,20,30,15,1,1', 'whole', 'wrong field count'),
            (gt_line(2, 4, 10, 10, 5, 5, category=5), 'whole',
             'unknown class'),
            (gt_line(2, 4, W + 3, 10, 5, 5), 'whole', 'box outside frame'),
            (gt_line(2, 4, -30, 10, 25, 5), 'whole', 'box outside frame'),
            (gt_line(9, 4, 10, 10, 5, 5), 'whole', 'missing image file'),
            (ignore_line(2, 10, H, 5, 5), 'ignore', 'box outside frame'),
        ]
        for line, kind, problem in cases:
            with self.subTest(problem=problem, line=line):
                self.tearDown()
                self.setUp()
                self._append(line, kind=kind)
                n = 5 if kind == 'whole' else 3
                path = self._gt_path(kind=kind)
                with self.assertRaises(BadInputError) as ctx:
                    self._convert()
                self.assertEqual((ctx.exception.kind, ctx.exception.path,
                                  ctx.exception.line), (problem, path, n))
                self.assertIn(f'{path}, line {n}', str(ctx.exception))
                self.assertFalse(osp.exists(self.out))  # nothing written

    def test_skip_counts(self):
        for line in ('1,1,10,20,30,15,1,1',
                     gt_line(2, 4, 10, 10, 5, 5, category=5),
                     gt_line(2, 4, W + 3, 10, 5, 5),
                     gt_line(9, 4, 10, 10, 5, 5)):
            self._append(line)
        self._append(ignore_line(2, 10, H, 5, 5), kind='ignore')
        stats = self._convert(on_bad_input='skip')
        self.assertEqual(stats['skipped'], {
            'wrong field count': 1, 'unknown class': 1,
            'box outside frame': 2, 'missing image file': 1})
        self.assertIn('skipped 5 bad input entries',
                      stats['skipped_summary'])
        self.assertIn(f'{self._gt_path()}, line 5',
                      stats['skipped_summary'])
        # the good lines are all there
        self.assertEqual((stats['objects'], stats['ignore_regions']), (4, 2))

    def test_missing_sequence_and_gt_file(self):
        os.remove(self._gt_path('M0203'))
        with self.assertRaises(BadInputError) as ctx:
            self._convert(('M0101', 'M0203'))
        self.assertEqual(ctx.exception.kind, 'missing annotation file')
        self.assertEqual(ctx.exception.path, self._gt_path('M0203'))
        with self.assertRaisesRegex(BadInputError, 'missing sequence folder'):
            self._convert(('M0101', 'M0404'))
        stats = self._convert(('M0101', 'M0203', 'M0404'),
                              on_bad_input='skip')
        self.assertEqual(stats['skipped'], {'missing annotation file': 1,
                                            'missing sequence folder': 1})
        self.assertEqual(stats['sequences'], 1)
        self.assertEqual(len(_load(self.out)['images']), 4)

    def test_unreadable_frame(self):
        first = osp.join(self.dirs['img_dir'], 'M0203', 'img000001.jpg')
        with open(first, 'wb') as f:
            f.write(b'not a jpeg')
        with self.assertRaises(BadInputError) as ctx:
            self._convert(('M0101', 'M0203'))
        self.assertEqual((ctx.exception.kind, ctx.exception.path),
                         ('unreadable image', first))
        stats = self._convert(('M0101', 'M0203'), on_bad_input='skip')
        self.assertEqual(stats['skipped'], {'unreadable image': 1})
        self.assertEqual(stats['images'], 4)

    def test_never_writes_over_inputs(self):
        before = file_digest(self.root)
        for inside in (osp.join(self.dirs['img_dir'], 'M0101', 'a.json'),
                       osp.join(self.dirs['gt_dir'], 'M0101_gt_whole.txt')):
            with self.assertRaisesRegex(ValueError, 'inside the input'):
                convert_uavdt_split(self.root, inside, ['M0101'],
                                    progress=False, overwrite=True)
        self._convert()
        first = _load(self.out)
        with self.assertRaisesRegex(FileExistsError, '--overwrite'):
            self._convert(('M0101', 'M0203'))
        self.assertEqual(_load(self.out), first)
        self._convert(('M0101', 'M0203'), overwrite=True)
        self.assertEqual(len(_load(self.out)['images']), 6)
        self.assertEqual(file_digest(self.root), before)

    def test_layout_error(self):
        with self.assertRaisesRegex(FileNotFoundError,
                                    'UAV-benchmark-MOTD_v1.0/GT'):
            convert_uavdt_split(self.tmp.name, self.out, ['M0101'])

    def test_cli(self):
        tool = _tool('uavdt2coco')
        listing = osp.join(self.tmp.name, 'seqs.txt')
        with open(listing, 'w') as f:
            f.write('M0101\nM0203\n')
        out = osp.join(self.root, 'annotations', 'mine.json')
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            tool.main([self.root, '--seq-list', listing, '--out', out,
                       '--frame-step', '2'])
        text = buf.getvalue()
        self.assertIn('[1/2] M0101: 2 frames', text)
        self.assertIn('seq-list: 2 sequences, 3 frames (step 2), 4 objects, '
                      '2 ignore regions, 1 boxes clipped', text)
        self.assertIn('no *_gt_ignore.txt (no ignore regions) for: M0203',
                      text)
        self.assertEqual(len(_load(out)['images']), 3)
        with self.assertRaises(SystemExit) as ctx:
            tool.main([self.root, '--seq-list', listing])
        self.assertIn('--seq-list needs --out', str(ctx.exception.code))
        # user errors: one line on stderr, exit status 1, nothing written
        absent = osp.join(self.tmp.name, 'absent.txt')
        with open(absent, 'w') as f:
            f.write('M0404\nM0405\n')
        never = osp.join(self.tmp.name, 'never.json')
        for argv, message in (
                ([self.tmp.name], 'UAV-benchmark-M'),
                ([self.root, '--split', 'train', '--quiet'],
                 'missing sequence folder'),
                ([self.root, '--seq-list', absent, '--out', never,
                  '--on-bad-input', 'skip'],
                 'none of the 2 listed sequences')):
            err = io.StringIO()
            with contextlib.redirect_stderr(err), \
                    contextlib.redirect_stdout(io.StringIO()):
                self.assertEqual(tool.cli(argv), 1)
            self.assertTrue(err.getvalue().startswith('uavdt2coco: error: '))
            self.assertIn(message, err.getvalue())
        self.assertFalse(osp.exists(never))
        self.assertFalse(osp.exists(osp.join(self.root, 'annotations',
                                             'UAVDT_train.json')))
        # --out <folder>: the default name inside it
        folder = osp.join(self.tmp.name, 'jsons')
        os.makedirs(folder)
        with contextlib.redirect_stdout(io.StringIO()):
            self.assertEqual(tool.cli([self.root, '--split', 'all', '--out',
                                       folder, '--quiet']), 0)
        self.assertTrue(osp.isfile(osp.join(folder, 'UAVDT_all.json')))
        # 'all' = every M#### folder; built-in train list needs all 30
        out_all = osp.join(self.tmp.name, 'all.json')
        with contextlib.redirect_stdout(io.StringIO()):
            tool.main([self.root, '--split', 'all', '--out', out_all])
        self.assertEqual(_load(out_all)['info']['sequences'],
                         ['M0101', 'M0203', 'M9999'])


class TestUAVDTDefaultSplitAndDataset(unittest.TestCase):
    """All 50 sequences of the common split (1 frame each): the default CLI
    run writes both jsons, and the shipped dataset config loads them."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.root = osp.join(cls.tmp.name, 'UAVDT')
        seqs = {s: (1, [gt_line(1, 1, 10, 20, 40, 30, category=1 + i % 3)],
                    [ignore_line(1, 150, 0, 60, 40)])
                for i, s in enumerate(UAVDT_TRAIN_SEQUENCES +
                                      UAVDT_TEST_SEQUENCES)}
        write_uavdt(cls.root, seqs, size=(W, H))
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            _tool('uavdt2coco').main([cls.root])
        cls.log = buf.getvalue()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_default_outputs(self):
        self.assertIn('[30/30] M1306', self.log)
        self.assertIn('test: 20 sequences, 20 frames (step 1)', self.log)
        for split, seqs in (('train', UAVDT_TRAIN_SEQUENCES),
                            ('test', UAVDT_TEST_SEQUENCES)):
            data = _load(osp.join(self.root, 'annotations',
                                  f'UAVDT_{split}.json'))
            self.assertEqual([i['sequence'] for i in data['images']],
                             sorted(seqs))

    def test_dataset_config(self):
        from mmengine.config import Config
        from mmengine.registry import DATASETS, init_default_scope
        init_default_scope('mmdet')
        path = osp.join(REPO, 'configs/_base_/datasets/uavdt.py')
        with open(path) as f:
            text = f.read()
        for bad in ('torchvision://', 'http://', 'https://', 'mmdet::'):
            self.assertNotIn(bad, text)
        cfg = Config.fromfile(path)
        # swappable like the other dataset bases (docs/datasets.md)
        for key in ('dataset_type', 'data_root', 'backend_args',
                    'train_pipeline', 'test_pipeline', 'train_dataloader',
                    'val_dataloader', 'test_dataloader', 'val_evaluator',
                    'test_evaluator'):
            self.assertIn(key, cfg)
        self.assertEqual(cfg.metainfo.classes, UAVDT_CLASSES)
        for key in ('train_dataloader', 'val_dataloader'):
            ds_cfg = cfg[key].dataset
            ds_cfg = ds_cfg.get('dataset', ds_cfg)  # RepeatDataset x5
            ds_cfg.data_root = self.root + '/'
            ds = DATASETS.build(ds_cfg)
            self.assertEqual(ds.metainfo['classes'], UAVDT_CLASSES)
            self.assertEqual(len(ds), 30 if key == 'train_dataloader' else 20)
            item = ds[0]
            sample = item['data_samples']
            # M0101 (first train sequence, i = 0) is a car; M0203 (test,
            # i = 30) a car too
            self.assertEqual(sample.gt_instances.labels.tolist(), [0])
            self.assertEqual(len(sample.ignored_instances), 3)
            if key == 'val_dataloader':  # test pipeline: original coords
                self.assertEqual(
                    sample.ignored_instances.bboxes.tensor.tolist(),
                    [[150., 0., 210., 40.]] * 3)
            # 1024 x 540 keep-ratio resize of a 216 x 108 frame
            self.assertEqual(tuple(item['inputs'].shape[1:]), (512, 1024))


if __name__ == '__main__':
    unittest.main()
