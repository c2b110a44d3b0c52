# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Every dataset base config builds its datasets on tiny official-format
data and runs its pipelines (data_root pointed at generated files)."""
import os.path as osp
import tempfile
import unittest

import mmkd_dense  # noqa: F401
from mmkd_dense.datasets import (DIOR_CLASSES, DOTA_V10_CLASSES,
                                 VISDRONE_CLASSES)
from mmkd_dense.datasets.converters.dota_split import split_dota
from mmkd_dense.datasets.converters.visdrone import convert_visdrone_split

from .official_format import (dota_line, write_cityscapes, write_dior,
                              write_dota, write_visdrone, write_voc)

CFG_DIR = osp.join(osp.dirname(__file__), '..', '..', 'configs', '_base_',
                   'datasets')
NAMES = ['coco_detection', 'voc0712', 'cityscapes_detection', 'dior',
         'dota_hbb', 'visdrone']
KEYS = ['dataset_type', 'data_root', 'backend_args', 'train_pipeline',
        'test_pipeline', 'train_dataloader', 'val_dataloader',
        'test_dataloader', 'val_evaluator', 'test_evaluator']


def _load(name):
    from mmengine.config import Config
    return Config.fromfile(osp.join(CFG_DIR, f'{name}.py'))


def _reroot(obj, old, new):
    """Replace data_root and paths starting with it, recursively."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == 'data_root':
                obj[k] = new
            elif isinstance(v, str) and v.startswith(old):
                obj[k] = new + v[len(old):]
            else:
                _reroot(v, old, new)
    elif isinstance(obj, list):
        for v in obj:
            _reroot(v, old, new)


class TestDatasetConfigs(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        from mmengine.registry import init_default_scope
        init_default_scope('mmdet')
        cls.tmp = tempfile.TemporaryDirectory()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def _build(self, name, root):
        from mmengine.registry import DATASETS, METRICS
        cfg = _load(name)
        _reroot(cfg._cfg_dict, cfg.data_root, root + '/')
        out = {}
        for key in ('train_dataloader', 'val_dataloader'):
            ds = DATASETS.build(cfg[key].dataset)
            item = ds[0]
            self.assertEqual(item['inputs'].dim(), 3)
            out[key] = (ds, item)
        metric = METRICS.build(cfg.val_evaluator)
        out['metric'] = metric
        return cfg, out

    def test_files_are_offline_and_swappable(self):
        for name in NAMES:
            with self.subTest(name=name):
                with open(osp.join(CFG_DIR, f'{name}.py')) as f:
                    text = f.read()
                for bad in ('torchvision://', 'http://', 'https://',
                            'mmdet::'):
                    self.assertNotIn(bad, text)
                cfg = _load(name)
                for key in KEYS:
                    self.assertIn(key, cfg)

    def test_coco(self):
        from mmkd_dense.testing import make_tiny_coco
        root = osp.join(self.tmp.name, 'coco')
        make_tiny_coco(root, splits=('train2017', 'val2017'))
        self._build('coco_detection', root)

    def test_voc0712(self):
        root = osp.join(self.tmp.name, 'VOCdevkit')
        obj = [('dog', 10, 10, 100, 90), ('person', 5, 5, 60, 70, 1)]
        write_voc(root, '2007', 'trainval', [('000001', obj)])
        write_voc(root, '2012', 'trainval', [('2008_000001', obj)])
        write_voc(root, '2007', 'test', [('000002', obj)])
        cfg, out = self._build('voc0712', root)
        train_ds = out['train_dataloader'][0]
        self.assertEqual(len(train_ds), 6)  # (1 + 1) x 3
        self.assertEqual(len(train_ds.metainfo['classes']), 20)
        sample = out['val_dataloader'][1]['data_samples']
        self.assertEqual(len(sample.ignored_instances), 1)  # difficult

    def test_cityscapes(self):
        try:
            import cityscapesscripts  # noqa: F401
        except ImportError:  # pragma: no cover
            self.skipTest('cityscapesscripts not installed')
        from mmkd_dense.datasets.converters.cityscapes import \
            convert_cityscapes_split
        root = osp.join(self.tmp.name, 'cityscapes')
        big = [('car', [[10, 10], [60, 10], [60, 50], [10, 50]])]
        for split in ('train', 'val'):
            write_cityscapes(root, split, 'aachen',
                             {'aachen_000000_000019': big}, size=(256, 128))
            convert_cityscapes_split(root, osp.join(root, 'annotations'),
                                     split, progress_every=None)
        cfg, out = self._build('cityscapes_detection', root)
        self.assertEqual(len(out['train_dataloader'][0]), 8)  # repeat x8
        self.assertEqual(len(out['val_dataloader'][0].metainfo['classes']),
                         8)

    def test_dior(self):
        root = osp.join(self.tmp.name, 'DIOR')
        obj = [('Expressway-Service-area', 10, 10, 100, 90)]
        write_dior(root, {'train': [('00001', obj)],
                          'val': [('00002', obj)],
                          'test': [('00003', obj)]})
        cfg, out = self._build('dior', root)
        self.assertEqual(len(out['train_dataloader'][0]), 2)
        ds, item = out['val_dataloader']
        self.assertEqual(ds.metainfo['classes'], DIOR_CLASSES)
        sample = item['data_samples']
        self.assertEqual(sample.gt_instances.labels.tolist(), [7])
        self.assertIn('instances', sample.metainfo)  # for CocoMetric option
        # both evaluators give 1.0 for perfect predictions on real samples
        from mmengine.registry import METRICS
        pred = dict(bboxes=sample.gt_instances.bboxes.tensor,
                    scores=sample.gt_instances.labels.new_ones(1).float(),
                    labels=sample.gt_instances.labels)
        for ev_cfg, key in ((cfg.val_evaluator, 'mAP'),
                            (cfg.dior_coco_evaluator, 'bbox_mAP')):
            metric = METRICS.build(ev_cfg)
            metric.dataset_meta = ds.metainfo
            data = sample.to_dict()
            data['pred_instances'] = pred
            metric.process({}, [data])
            self.assertAlmostEqual(
                metric.compute_metrics(metric.results)[key], 1.0)

    def test_dota(self):
        root = osp.join(self.tmp.name, 'DOTA')
        for split in ('train', 'val'):
            write_dota(osp.join(root, split), {
                'P0001': (1200, 900, [dota_line(30, 40, 200, 180, 'plane'),
                                      dota_line(1100, 10, 1150, 40, 'ship',
                                                1)])})
            split_dota(osp.join(root, split), osp.join(root, 'split_1024'),
                       split, verbose=False)
        cfg, out = self._build('dota_hbb', osp.join(root, 'split_1024'))
        ds, item = out['val_dataloader']
        self.assertEqual(ds.metainfo['classes'], DOTA_V10_CLASSES)
        self.assertEqual(len(ds), 2)
        self.assertEqual(tuple(item['inputs'].shape), (3, 1024, 1024))
        self.assertTrue(osp.isfile(out['metric'].full_ann_file))

    def test_visdrone(self):
        root = osp.join(self.tmp.name, 'VisDrone')
        for split in ('train', 'val'):
            folder = osp.join(root, f'VisDrone2019-DET-{split}')
            write_visdrone(folder, {'0000001_00000_d_0000001': (
                400, 300, ['10,10,60,50,1,4,0,0', '200,100,80,80,0,0,0,0'])})
            convert_visdrone_split(folder, osp.join(
                root, 'annotations', f'VisDrone2019-DET_{split}.json'),
                progress_every=None)
        cfg, out = self._build('visdrone', root)
        ds, item = out['val_dataloader']
        self.assertEqual(ds.metainfo['classes'], VISDRONE_CLASSES)
        sample = item['data_samples']
        self.assertEqual(sample.gt_instances.labels.tolist(), [3])
        self.assertEqual(len(sample.ignored_instances), 10)


if __name__ == '__main__':
    unittest.main()
