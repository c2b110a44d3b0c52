# Copyright (c) mmkd_dense contributors. All rights reserved.
import os
import os.path as osp
import tempfile
import unittest

import torch

import mmkd_dense  # noqa: F401
from mmkd_dense.datasets import DIOR_CLASSES, BadInputError, DIORDataset

from .official_format import write_dior

LABEL = {c.lower(): i for i, c in enumerate(DIOR_CLASSES)}


def _ids(ds):
    return [ds.get_data_info(i)['img_id'] for i in range(len(ds))]


def _instances(info):
    return [(i['bbox'], i['bbox_label'], i['ignore_flag'])
            for i in info['instances']]


class TestDIORDataset(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name + '/'

    def tearDown(self):
        self.tmp.cleanup()

    def _build(self, ann_file='ImageSets/Main/train.txt', img='trainval',
               **kwargs):
        return DIORDataset(
            data_root=self.root, ann_file=ann_file,
            data_prefix=dict(img=f'JPEGImages-{img}/', ann='Annotations/'),
            pipeline=[], **kwargs)

    def test_boxes_labels_ignore_case_insensitive(self):
        write_dior(self.root, {
            'train': [
                ('00001', [('Expressway-Service-area', 10, 20, 50, 60),
                           ('expressway-service-area', 1, 2, 3, 4),
                           (' AIRPLANE ', 5, 6, 70, 80),
                           ('ship', 30, 30, 40, 45, 1)]),
                ('00002', [('Expressway-toll-station', 0, 0, 159, 127, 0),
                           ('windmill', 100, 90, 120, 110)]),
            ]})
        ds = self._build()
        self.assertEqual(len(ds), 2)
        a, b = ds.get_data_info(0), ds.get_data_info(1)
        self.assertEqual((a['img_id'], a['width'], a['height']),
                         ('00001', 160, 128))
        self.assertTrue(
            a['img_path'].endswith('JPEGImages-trainval/00001.jpg'))
        esa = LABEL['expressway-service-area']
        self.assertEqual(_instances(a), [
            ([10., 20., 50., 60.], esa, 0), ([1., 2., 3., 4.], esa, 0),
            ([5., 6., 70., 80.], LABEL['airplane'], 0),
            ([30., 30., 40., 45.], LABEL['ship'], 1)])
        self.assertEqual(_instances(b), [
            ([0., 0., 159., 127.], LABEL['expressway-toll-station'], 0),
            ([100., 90., 120., 110.], LABEL['windmill'], 0)])
        self.assertEqual(ds.metainfo['classes'], DIOR_CLASSES)

    def test_dior_r_folder_and_several_id_lists(self):
        write_dior(self.root, {
            'train': [('00001', [('bridge', 1, 1, 9, 9)])],
            'val': [('00002', [('dam', 2, 2, 8, 8)])]}, dior_r=True)
        ds = self._build(extra_ann_files=['ImageSets/Main/val.txt'])
        self.assertEqual([ds.get_data_info(i)['img_id'] for i in range(2)],
                         ['00001', '00002'])
        self.assertEqual(_instances(ds.get_data_info(1)),
                         [([2., 2., 8., 8.], LABEL['dam'], 0)])

    def test_minus_one_and_pipeline_output(self):
        import mmdet.datasets.transforms  # noqa: F401  (registers them)
        from mmengine.registry import init_default_scope
        init_default_scope('mmdet')
        obj = ('vehicle', 11, 21, 31, 41)
        write_dior(self.root, {'test': [('00009', [obj])]})
        ds = DIORDataset(
            data_root=self.root, ann_file='ImageSets/Main/test.txt',
            data_prefix=dict(img='JPEGImages-test/', ann='Annotations/'),
            minus_one=True, test_mode=True, pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='LoadAnnotations', with_bbox=True),
                dict(type='PackDetInputs')])
        out = ds[0]
        self.assertEqual(tuple(out['inputs'].shape), (3, 128, 160))
        gt = out['data_samples'].gt_instances
        torch.testing.assert_close(gt.bboxes.tensor,
                                   torch.tensor([[10., 20., 30., 40.]]))
        self.assertEqual(gt.labels.tolist(), [LABEL['vehicle']])

    def test_unknown_class_names_file_and_line(self):
        ann_dir = write_dior(self.root, {'train': [
            ('00001', [('aeroplane', 1, 1, 9, 9), ('ship', 1, 1, 9, 9)])]})
        with self.assertRaises(BadInputError) as cm:
            self._build()
        msg = str(cm.exception)
        self.assertIn(osp.join(ann_dir, '00001.xml') + ', line 13', msg)
        self.assertIn("'aeroplane'", msg)
        self.assertIn('unknown class', msg)
        # skip mode: the object is skipped, counted, the rest is kept
        ds = self._build(on_bad_input='skip')
        self.assertEqual(_instances(ds.get_data_info(0)),
                         [([1., 1., 9., 9.], LABEL['ship'], 0)])
        self.assertEqual(ds.bad_input_counts, {'unknown class': 1})

    def test_negative_size_and_bad_numbers(self):
        ann_dir = write_dior(self.root, {'train': [
            ('00001', [('ship', 1, 1, 9, 9), ('ship', 20, 5, 10, 9)])]})
        with self.assertRaises(BadInputError) as cm:
            self._build()
        self.assertIn(osp.join(ann_dir, '00001.xml') + ', line 27',
                      str(cm.exception))
        self.assertIn('negative size', str(cm.exception))
        write_dior(self.root, {'train': [
            ('00001', [('ship', 'a', 1, 9, 9)])]})
        with self.assertRaisesRegex(BadInputError, 'line 16.*xmin'):
            self._build()

    def test_missing_image_and_empty_file(self):
        write_dior(self.root, {'train': [('00001', [('ship', 1, 1, 9, 9)]),
                                         ('00002', [])]})
        with self.assertRaisesRegex(BadInputError,
                                    '00002.xml: empty annotation file'):
            self._build()
        ds = self._build(allow_empty=True, filter_cfg=None)
        self.assertEqual(len(ds), 2)
        self.assertEqual(ds.get_data_info(1)['instances'], [])
        ds = self._build(on_bad_input='skip')
        self.assertEqual(len(ds), 1)
        self.assertEqual(ds.bad_input_counts, {'empty annotation file': 1})

        os.remove(osp.join(self.root, 'JPEGImages-trainval', '00001.jpg'))
        img = osp.join(self.root, 'JPEGImages-trainval', '00001.jpg')
        with self.assertRaises(BadInputError) as cm:
            self._build(allow_empty=True)
        self.assertIn(f'{img}: missing image file', str(cm.exception))
        ds = self._build(allow_empty=True, on_bad_input='skip')
        self.assertEqual(_ids(ds), ['00002'])
        self.assertEqual(ds.bad_input_counts, {'missing image file': 1})

    def test_filter_empty_gt_counts_only_non_ignored(self):
        write_dior(self.root, {'train': [
            ('00001', [('ship', 1, 1, 9, 9, 1)]),
            ('00002', [('ship', 1, 1, 9, 9)])]})
        ds = self._build(filter_cfg=dict(filter_empty_gt=True, min_size=32))
        self.assertEqual(_ids(ds), ['00002'])
        # (an empty dataset cannot be serialised by mmengine)
        ds = self._build(filter_cfg=dict(filter_empty_gt=False,
                                         min_size=200),
                         serialize_data=False)
        self.assertEqual(len(ds), 0)


class TestDIORVOCMetric(unittest.TestCase):
    """mmdet VOCMetric (the dior.py evaluator) on DIOR metainfo."""

    def _sample(self, gt_boxes, gt_labels, pred_boxes, pred_scores,
                pred_labels):
        f = lambda x: torch.tensor(x, dtype=torch.float32).reshape(-1, 4)  # noqa
        return dict(
            gt_instances=dict(bboxes=f(gt_boxes),
                              labels=torch.tensor(gt_labels)),
            ignored_instances=dict(bboxes=f([]),
                                   labels=torch.zeros(0, dtype=torch.long)),
            pred_instances=dict(bboxes=f(pred_boxes),
                                scores=torch.tensor(pred_scores),
                                labels=torch.tensor(pred_labels)))

    def _evaluate(self, samples):
        from mmengine.config import Config
        from mmengine.registry import METRICS, init_default_scope
        init_default_scope('mmdet')
        cfg = Config.fromfile(osp.join(
            osp.dirname(__file__), '../../configs/_base_/datasets/dior.py'))
        metric = METRICS.build(cfg.val_evaluator)
        metric.dataset_meta = dict(classes=DIOR_CLASSES)
        metric.process({}, samples)
        return metric.compute_metrics(metric.results)['mAP']

    def test_perfect_and_hand_computed(self):
        gt = [[0, 0, 10, 10], [20, 20, 40, 40]]
        perfect = self._sample(gt, [0, 0], gt, [0.9, 0.8], [0, 0])
        self.assertAlmostEqual(self._evaluate([perfect]), 1.0, places=6)
        # one TP (0.9), one FP far away (0.8), second GT missed:
        # recall 0.5 at precision 1 -> area AP = 0.5
        imperfect = self._sample(gt, [0, 0], [[0, 0, 10, 10],
                                              [100, 100, 120, 120]],
                                 [0.9, 0.8], [0, 0])
        self.assertAlmostEqual(self._evaluate([imperfect]), 0.5, places=6)


if __name__ == '__main__':
    unittest.main()
