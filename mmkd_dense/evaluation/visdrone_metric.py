# Copyright (c) mmkd_dense contributors. All rights reserved.
"""VisDrone2019-DET evaluation (COCO-style, up to 500 detections)."""
import contextlib
import io
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.fileio import get_local_path
from mmengine.logging import print_log

from ..registry import METRICS

__all__ = ['VisDroneMetric']


@METRICS.register_module()
class VisDroneMetric(BaseMetric):
    """The VisDrone-DET table: AP, AP50, AP75, AR1, AR10, AR100, AR500.

    AP = COCO AP@[.5:.95] (101-point interpolation, pycocotools) with at
    most ``max_dets[-1]`` (500) detections per image, all object sizes;
    ARk = recall with at most k detections, averaged over IoU thresholds
    and classes. Uses the json written by ``visdrone2coco.py``, whose
    ``iscrowd`` copies of the ignored regions (category 0, 11 and score-0
    boxes) make detections inside them neither TP nor FP for every class.
    pycocotools' own ``summarize`` cannot do this table (it needs exactly
    three ``maxDets`` and reports AP at the third), hence this metric; for
    the plain mmdet route use ``CocoMetric(proposal_nums=(1, 100, 500))``.

    Args:
        ann_file (str): COCO json of the split.
        max_dets (Sequence[int]): detection caps for AR; the last one is
            also the AP cap and the number of detections kept per image.
        iou_thrs (Sequence[float], optional): default 0.50:0.05:0.95.
        backend_args (dict, optional): for reading ``ann_file``.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): default ``'visdrone'``.
    """

    default_prefix: Optional[str] = 'visdrone'
    #: (key, IoU) of the single-threshold APs reported after ``AP``
    ap_ious: Tuple[Tuple[str, float], ...] = (('AP50', 0.5), ('AP75', 0.75))
    #: benchmark name (log line) and the converter that writes ``ann_file``
    benchmark: str = 'VisDrone-DET'
    converter: str = 'visdrone2coco.py'

    def __init__(self,
                 ann_file: str,
                 max_dets: Sequence[int] = (1, 10, 100, 500),
                 iou_thrs: Optional[Sequence[float]] = None,
                 backend_args: Optional[dict] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if list(max_dets) != sorted(max_dets) or not max_dets:
            raise ValueError(f'VisDroneMetric max_dets must be increasing, '
                             f'got {max_dets}')
        self.ann_file = ann_file
        self.max_dets = [int(m) for m in max_dets]
        self.iou_thrs = None if iou_thrs is None else np.asarray(
            iou_thrs, dtype=np.float64)
        self.backend_args = backend_args

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep the top ``max_dets[-1]`` detections of each image."""
        for sample in data_samples:
            pred = sample['pred_instances']
            scores = pred['scores'].cpu().numpy().reshape(-1)
            order = np.argsort(-scores, kind='stable')[:self.max_dets[-1]]
            self.results.append(dict(
                img_id=sample['img_id'],
                bboxes=pred['bboxes'].cpu().numpy().reshape(-1, 4)[order],
                scores=scores[order],
                labels=pred['labels'].cpu().numpy().reshape(-1)[order]))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Run pycocotools and read the VisDrone table from its arrays."""
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
        log = io.StringIO()
        with get_local_path(self.ann_file,
                            backend_args=self.backend_args) as path, \
                contextlib.redirect_stdout(log):
            coco = COCO(path)
        classes = list(self.dataset_meta['classes'])
        name_to_cat = {c['name'].lower(): c['id']
                       for c in coco.loadCats(coco.getCatIds())}
        missing = [c for c in classes if c.lower() not in name_to_cat]
        if missing:
            raise ValueError(f'{self.ann_file} has no category {missing}; '
                             f'use the json written by {self.converter}')
        cat_ids = [name_to_cat[c.lower()] for c in classes]
        dets = []
        for r in results:
            xywh = r['bboxes'].astype(np.float64).copy()
            xywh[:, 2:] -= xywh[:, :2]
            for box, score, label in zip(xywh.tolist(), r['scores'].tolist(),
                                         r['labels'].tolist()):
                dets.append(dict(image_id=r['img_id'],
                                 category_id=cat_ids[int(label)], bbox=box,
                                 score=float(score)))
        keys = ['AP'] + [k for k, _ in self.ap_ious] + \
            [f'AR{m}' for m in self.max_dets]
        if not dets:
            print_log(f'{type(self).__name__}: no detections at all; every '
                      'metric is 0.', logger='current')
            return {k: 0.0 for k in keys}
        with contextlib.redirect_stdout(log):
            coco_dt = coco.loadRes(dets)
            ev = COCOeval(coco, coco_dt, 'bbox')
            ev.params.imgIds = sorted({r['img_id'] for r in results})
            ev.params.catIds = cat_ids
            ev.params.maxDets = list(self.max_dets)
            if self.iou_thrs is not None:
                ev.params.iouThrs = self.iou_thrs
            ev.evaluate()
            ev.accumulate()
        precision = ev.eval['precision']  # (T, R, K, A, M)
        recall = ev.eval['recall']  # (T, K, A, M)
        iou_thrs = ev.params.iouThrs
        out = dict(AP=_mean_valid(precision[:, :, :, 0, -1]))
        for name, thr in self.ap_ious:
            hit = np.nonzero(np.isclose(iou_thrs, thr))[0]
            out[name] = _mean_valid(precision[hit[0], :, :, 0, -1]) \
                if len(hit) else -1.0
        for m_idx, m in enumerate(self.max_dets):
            out[f'AR{m}'] = _mean_valid(recall[:, :, 0, m_idx])
        print_log(f'{self.benchmark}: ' + ', '.join(
            f'{k} {v:.4f}' for k, v in out.items()), logger='current')
        return out


def _mean_valid(values: np.ndarray) -> float:
    """Mean over entries > -1 (pycocotools marks 'no GT' with -1)."""
    valid = values[values > -1]
    return float(valid.mean()) if valid.size else -1.0
