# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Evaluate an exported student with onnxruntime on a config's test set.

    python tools/deployment/test_onnx.py CONFIG MODEL.onnx
        [--checkpoint CKPT] [--out preds.pkl] [--metrics-out metrics.json]
        [--threads N] [--cfg-options ...]

The test dataloader and evaluator are built from CONFIG exactly as
``tools/test.py`` builds them (``test_dataloader``, ``test_evaluator``), the
images go through the student's ``data_preprocessor``, onnxruntime runs the
graph and the student head's mmdet ``predict_by_feat`` (its ``test_cfg``,
rescaled to the original image) makes the detections, so the printed COCO
metric is the one ``tools/test.py`` prints for the PyTorch student.

With ``--checkpoint`` (the checkpoint that was exported) the PyTorch student
runs on the same batches too and the tool prints both metrics and, per
image, the largest difference of the raw head outputs and of the final
detections (boxes in pixels of the original image, scores).
"""
import argparse
import copy
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import mmkd_dense  # noqa: E402,F401  (compat shims before mmrazor imports)
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402

from mmkd_dense.deployment import (ORTDetector,  # noqa: E402
                                   StudentCheckpointError, load_student)

__all__ = ['compare_detections', 'evaluate_onnx', 'main']


def compare_detections(a, b) -> Dict:
    """Differences between two ``pred_instances`` of one image.

    Returns:
        dict: ``num`` (a's count), ``same_count``, ``same_labels`` and,
        when the counts agree, ``max_box_diff`` / ``max_score_diff``
        (largest absolute difference over matched detections, in order).
    """
    out = dict(num=len(a), same_count=len(a) == len(b), same_labels=False,
               max_box_diff=None, max_score_diff=None)
    if len(a) == len(b):
        out['same_labels'] = bool(torch.equal(a.labels, b.labels))
        if len(a):
            out['max_box_diff'] = float((a.bboxes - b.bboxes).abs().max())
            out['max_score_diff'] = float((a.scores - b.scores).abs().max())
        else:
            out['max_box_diff'] = out['max_score_diff'] = 0.0
    return out


def _build_loader_and_evaluators(cfg: Config, num: int, dump: Optional[str]):
    from mmengine.evaluator import Evaluator
    from mmengine.registry import DefaultScope, init_default_scope
    from mmengine.runner import Runner
    if DefaultScope.get_current_instance() is None:
        init_default_scope(cfg.get('default_scope', 'mmdet'))
    loader = Runner.build_dataloader(copy.deepcopy(cfg.test_dataloader))
    evaluators = []
    for i in range(num):
        metrics = copy.deepcopy(cfg.test_evaluator)
        metrics = list(metrics) if isinstance(metrics, list) else [metrics]
        if dump and i == 0:
            from mmdet.evaluation import DumpDetResults
            metrics.append(DumpDetResults(out_file_path=dump))
        evaluator = Evaluator(metrics)
        evaluator.dataset_meta = loader.dataset.metainfo
        evaluators.append(evaluator)
    return loader, evaluators


def evaluate_onnx(config: str, onnx_path: str,
                  checkpoint: Optional[str] = None,
                  cfg_options: Optional[Dict] = None,
                  dump: Optional[str] = None, threads: int = 0,
                  providers: Optional[List[str]] = None) -> Dict:
    """Evaluate the ONNX model (and the PyTorch student) on the test set.

    Returns:
        dict: ``onnx`` (metrics); with ``checkpoint`` also ``torch``
        (metrics), ``raw_max_abs_diff`` (per image, largest |ORT - torch|
        over all head outputs) and ``detections`` (per image,
        :func:`compare_detections`).
    """
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    skeleton, _ = load_student(cfg)
    runner = ORTDetector(onnx_path, skeleton, providers=providers,
                         threads=threads)
    torch_model = None
    if checkpoint is not None:
        torch_model, _ = load_student(cfg, checkpoint)
    loader, evaluators = _build_loader_and_evaluators(
        cfg, 2 if torch_model is not None else 1, dump)
    raw_diffs: List[float] = []
    det_diffs: List[Dict] = []
    total = len(loader)
    for step, data in enumerate(loader):
        if torch_model is None:
            samples = runner.test_step(data)
            evaluators[0].process(data_samples=samples, data_batch=data)
        else:
            with torch.no_grad():
                batch = torch_model.data_preprocessor(data, False)
                inputs = batch['inputs']
                ref = torch_model(inputs, mode='tensor')
                metas = [s.metainfo for s in batch['data_samples']]
                torch_res = torch_model.bbox_head.predict_by_feat(
                    *ref, batch_img_metas=metas, rescale=True)
            ort = runner.raw_outputs(inputs)
            with torch.no_grad():
                ort_res = runner.head.predict_by_feat(
                    *ort, batch_img_metas=metas, rescale=True)
            for i in range(inputs.shape[0]):
                # a fixed-size model pads to its size: compare the part
                # both feature maps have
                raw_diffs.append(max(
                    float((a[i] - b[i][..., :a.shape[-2], :a.shape[-1]])
                          .abs().max())
                    for ref_group, ort_group in zip(ref, ort)
                    for a, b in zip(ref_group, ort_group)))
                det_diffs.append(compare_detections(ort_res[i],
                                                    torch_res[i]))
            ort_samples = torch_model.add_pred_to_datasample(
                copy.deepcopy(batch['data_samples']), ort_res)
            torch_samples = torch_model.add_pred_to_datasample(
                batch['data_samples'], torch_res)
            evaluators[0].process(data_samples=ort_samples, data_batch=data)
            evaluators[1].process(data_samples=torch_samples,
                                  data_batch=data)
        if step == 0 or (step + 1) % 10 == 0 or step + 1 == total:
            print(f'[test_onnx] batch {step + 1}/{total}', flush=True)
    num_images = len(loader.dataset)
    result = dict(onnx=evaluators[0].evaluate(num_images))
    if torch_model is not None:
        result['torch'] = evaluators[1].evaluate(num_images)
        result['raw_max_abs_diff'] = raw_diffs
        result['detections'] = det_diffs
    return result


def parity_summary(result: Dict) -> Dict:
    """Largest differences over the test set (for printing and JSON)."""
    dets = result['detections']
    matched = [d for d in dets if d['same_count']]
    summary = dict(
        images=len(dets),
        raw_max_abs_diff=max(result['raw_max_abs_diff'], default=0.0),
        images_same_count=len(matched),
        images_same_labels=sum(d['same_labels'] for d in dets),
        max_box_diff=max((d['max_box_diff'] for d in matched), default=0.0),
        max_score_diff=max((d['max_score_diff'] for d in matched),
                           default=0.0))
    keys = [k for k in result['onnx'] if k in result['torch']]
    summary['metric_abs_diff'] = {
        k: abs(float(result['onnx'][k]) - float(result['torch'][k]))
        for k in keys if isinstance(result['onnx'][k], (int, float))}
    return summary


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Evaluate an ONNX student with onnxruntime (same '
        'dataloader and metric as tools/test.py)')
    parser.add_argument('config', help='distillation or detector config')
    parser.add_argument('model', help='.onnx file from export_onnx.py')
    parser.add_argument('--checkpoint', help='also run this PyTorch '
                        'checkpoint and print the differences')
    parser.add_argument('--out', help='dump ONNX predictions (.pkl)')
    parser.add_argument('--metrics-out', help='write metrics as JSON')
    parser.add_argument('--threads', type=int, default=0,
                        help='onnxruntime intra-op threads (0: default)')
    parser.add_argument('--providers', nargs='+',
                        help='onnxruntime providers (default: CUDA if '
                        'available, CPU)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def _floats(metrics: Dict) -> Dict:
    return {k: float(v) if isinstance(v, (int, float)) else str(v)
            for k, v in metrics.items()}


def main(argv=None) -> Dict:
    args = parse_args(argv)
    for name, path in (('MODEL', args.model), ('--checkpoint',
                                                args.checkpoint)):
        if path and not osp.isfile(path):
            sys.exit(f'test_onnx.py: error: {name} "{path}" does not exist.')
    if args.out and not args.out.endswith(('.pkl', '.pickle')):
        sys.exit('test_onnx.py: error: --out must end with .pkl or .pickle')
    try:
        result = evaluate_onnx(args.config, args.model, args.checkpoint,
                               args.cfg_options, args.out, args.threads,
                               args.providers)
    except (StudentCheckpointError, ValueError) as err:
        sys.exit(f'test_onnx.py: error: {err}')
    report = dict(onnx=_floats(result['onnx']))
    print('onnxruntime: ' + ', '.join(
        f'{k}={v:.4f}' for k, v in report['onnx'].items()
        if isinstance(v, float)))
    if 'torch' in result:
        report['torch'] = _floats(result['torch'])
        report['parity'] = parity_summary(result)
        print('pytorch:     ' + ', '.join(
            f'{k}={v:.4f}' for k, v in report['torch'].items()
            if isinstance(v, float)))
        p = report['parity']
        print(f'parity over {p["images"]} images: raw head outputs max '
              f'|diff| {p["raw_max_abs_diff"]:.2e}; same number of '
              f'detections on {p["images_same_count"]}, same labels on '
              f'{p["images_same_labels"]}; max box diff '
              f'{p["max_box_diff"]:.2e} px, max score diff '
              f'{p["max_score_diff"]:.2e}; |mAP diff| '
              f'{p["metric_abs_diff"].get("coco/bbox_mAP", float("nan")):.4f}'
              )
    if args.metrics_out:
        os.makedirs(osp.dirname(osp.abspath(args.metrics_out)),
                    exist_ok=True)
        with open(args.metrics_out, 'w') as f:
            json.dump(report, f, indent=2)
    result['report'] = report
    return result


if __name__ == '__main__':
    main()
