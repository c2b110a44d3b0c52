# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Heatmaps of teacher/student FPN features and of the KD weight maps.

For one image with its GT boxes (or a synthetic image with random boxes)
and a distillation config, writes PNGs (matplotlib, Agg backend):

- ``teacher_P{l}.png`` / ``student_P{l}.png``: ``mean_c |F|`` per FPN level;
- ``diff_P{l}.png``: ``mean_c (S - T)^2`` when the channel numbers agree,
  else ``|mean_c|S| / mean - mean_c|T| / mean|`` (channel-free);
- one PNG per weight map and level, from the rasterisers the methods use:
  ``fgd_fg``/``fgd_bg`` (FGD masks, ``mmkd_dense.models.utils.fgd_masks``),
  ``fgd_att`` (FGD spatial attention of the teacher, tau=0.5),
  ``lsfi_att`` (LSFI multi-scale spatial attention; the config's
  ``LSFILoss`` settings if it has one), ``disw`` (DS2D2 density-independent
  scale weight, at the Haar-LL resolution), ``cid`` (CID centerness
  weights) -- each only when its module exists in this installation;
- ``overview.png``: all of the above in one grid (rows = FPN levels).

Weights: ``--checkpoint`` (a distillation or detector checkpoint), else the
config's ``teacher_ckpt`` when the file exists (student then random),
else random initialisation (the maps of GT-derived weights are still
meaningful).

Example::

    python tools/analysis_tools/vis_features.py \
        configs/demo/fgd_fpn_retina-r18c32_retina-r18c16_12e_digits.py \
        --img data/digits_demo/val/val_00000.png \
        --ann data/digits_demo/annotations/instances_val.json \
        --checkpoint work_dirs/demo/fgd/epoch_12.pth --out-dir vis/fgd
"""
import argparse
import json
import math
import os
import os.path as osp
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
sys.path.insert(1, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                            'model_converters'))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from mmengine.config import DictAction  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from analysis_utils import (build_model, get_distiller,  # noqa: E402
                            get_student, get_teacher, is_distill_model,
                            load_config, resolve_path)

__all__ = ['load_image_and_boxes', 'weight_map_providers', 'visualize',
           'main']

#: A weight-map provider: (batch context, teacher feature (N, C, H, W),
#: distiller or None) -> (N, h, w) map.
Provider = Callable[..., Tensor]


def synthetic_image(size: Tuple[int, int] = (256, 320),
                    num_boxes: int = 5,
                    seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """A textured BGR image with bright filled boxes and those boxes."""
    rng = np.random.RandomState(seed)
    h, w = size
    base = rng.rand(max(h // 16, 2), max(w // 16, 2), 3)
    import cv2
    img = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC) * 90 + 30
    img += rng.randn(h, w, 3) * 8
    boxes = []
    for _ in range(num_boxes):
        bw = rng.randint(max(w // 16, 4), max(w // 3, 5))
        bh = rng.randint(max(h // 16, 4), max(h // 3, 5))
        x = rng.randint(0, w - bw)
        y = rng.randint(0, h - bh)
        img[y:y + bh, x:x + bw] = rng.randint(150, 255, 3)
        boxes.append([x, y, x + bw, y + bh])
    return (np.clip(img, 0, 255).astype(np.uint8),
            np.array(boxes, dtype=np.float32).reshape(-1, 4))


def load_image_and_boxes(img: Optional[str] = None,
                         ann: Optional[str] = None,
                         boxes: Optional[Sequence[float]] = None,
                         synthetic_size: Tuple[int, int] = (256, 320),
                         seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """BGR image and ``(M, 4)`` xyxy boxes in image pixels.

    Boxes come from ``boxes`` (flat x1 y1 x2 y2 ...), else from the COCO
    json ``ann`` (the image whose ``file_name`` ends like ``img``), else
    none; without ``img`` a synthetic image with boxes is made.
    """
    if img is None:
        return synthetic_image(synthetic_size, seed=seed)
    import cv2
    image = cv2.imread(img, cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f'--img "{img}" cannot be read')
    if boxes:
        if len(boxes) % 4:
            raise ValueError('--boxes takes x1 y1 x2 y2 groups of 4 numbers')
        return image, np.array(boxes, dtype=np.float32).reshape(-1, 4)
    if ann:
        with open(ann) as f:
            coco = json.load(f)
        name = osp.basename(img)
        matches = [i for i in coco['images']
                   if osp.basename(i['file_name']) == name]
        if not matches:
            raise KeyError(f'{name} is not an image of --ann {ann}')
        image_id = matches[0]['id']
        xywh = [a['bbox'] for a in coco['annotations']
                if a['image_id'] == image_id and not a.get('iscrowd', 0)]
        arr = np.array(xywh, dtype=np.float32).reshape(-1, 4)
        arr[:, 2:] += arr[:, :2]
        return image, arr
    return image, np.zeros((0, 4), dtype=np.float32)


def prepare_batch(model: nn.Module, image: np.ndarray, boxes: np.ndarray,
                  input_size: Optional[Tuple[int, int]], device: str):
    """Resize (keep ratio) into ``input_size``, run the model's data
    preprocessor; returns ``(inputs (1, 3, H, W), data_samples, resized
    BGR image)``."""
    import cv2
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    h, w = image.shape[:2]
    scale = 1.0
    if input_size is not None:
        scale = min(input_size[0] / h, input_size[1] / w)
        image = cv2.resize(image, (max(int(round(w * scale)), 1),
                                   max(int(round(h * scale)), 1)),
                           interpolation=cv2.INTER_LINEAR)
    nh, nw = image.shape[:2]
    sample = DetDataSample(metainfo=dict(
        img_shape=(nh, nw), ori_shape=(h, w), scale_factor=(scale, scale)))
    sample.gt_instances = InstanceData(
        bboxes=torch.from_numpy(boxes * scale).float(),
        labels=torch.zeros(len(boxes), dtype=torch.long))
    tensor = torch.from_numpy(np.ascontiguousarray(
        image.transpose(2, 0, 1))).contiguous()
    data = model.data_preprocessor(
        dict(inputs=[tensor], data_samples=[sample]), training=False)
    inputs = data['inputs'].to(device)
    samples = [s.to(device) for s in data['data_samples']]
    return inputs, samples, image


def _features(detector: nn.Module, inputs: Tensor) -> List[Tensor]:
    feats = detector.extract_feat(inputs)
    return list(feats) if isinstance(feats, (list, tuple)) else [feats]


def _find_loss(distiller: Optional[nn.Module], class_name: str):
    if distiller is None:
        return None
    for loss in getattr(distiller, 'distill_losses', {}).values():
        if type(loss).__name__ == class_name:
            return loss
    return None


def weight_map_providers(distiller: Optional[nn.Module] = None
                         ) -> Dict[str, Provider]:
    """Weight-map functions of the methods available in this installation.

    Each provider takes ``(context, teacher_feat)`` and returns
    ``(N, h, w)``.
    """
    providers: Dict[str, Provider] = {}
    from mmkd_dense.models.utils import fgd_masks, spatial_attention
    providers['fgd_fg'] = lambda ctx, t: fgd_masks(ctx, t.shape[-2:],
                                                   t.device)[0]
    providers['fgd_bg'] = lambda ctx, t: fgd_masks(ctx, t.shape[-2:],
                                                   t.device)[1]
    providers['fgd_att'] = lambda ctx, t: spatial_attention(t, 0.5)
    try:
        from mmkd_dense.models.losses import LSFILoss
        lsfi = _find_loss(distiller, 'LSFILoss') or LSFILoss()
        providers['lsfi_att'] = lambda ctx, t: lsfi.attentions(t)[0]
    except ImportError:
        pass
    try:
        from mmkd_dense.models.utils import disw_for_context

        def disw(ctx, t):
            h2, w2 = (math.ceil(s / 2) for s in t.shape[-2:])
            return disw_for_context(ctx, (h2, w2), t.device)[:, 0]

        providers['disw'] = disw
    except ImportError:
        pass
    try:
        from mmkd_dense.models.utils import cid_weights
        providers['cid'] = lambda ctx, t: cid_weights(ctx, t.shape[-2:],
                                                      t.device)
    except ImportError:
        pass
    return providers


def _load_state(module: nn.Module, path: str) -> None:
    """Load a (distillation or detector) checkpoint into ``module``; a
    Runner-saved checkpoint is read with the restricted loader of
    ``extract_student.py`` (its message hub trips torch's weights-only
    loader)."""
    from extract_student import load_distill_checkpoint
    ckpt = load_distill_checkpoint(path)
    state = ckpt.get('state_dict', ckpt)
    missing, _ = module.load_state_dict(state, strict=False)
    if len(missing) == len(module.state_dict()):
        raise KeyError(f'{path}: no weight matches the model (keys look '
                       f'like {list(state)[:3]}).')


def _load_weights(model: nn.Module, cfg, checkpoint: Optional[str]) -> str:
    """Load weights; returns a description of what was loaded."""
    if checkpoint:
        _load_state(model, checkpoint)
        return f'checkpoint {checkpoint}'
    teacher_ckpt = cfg.model.get('teacher_ckpt')
    if is_distill_model(model) and teacher_ckpt and osp.isfile(
            resolve_path(teacher_ckpt)):
        _load_state(get_teacher(model), resolve_path(teacher_ckpt))
        return f'teacher {teacher_ckpt}, student random'
    return 'random initialisation'


def _to_np(x: Tensor) -> np.ndarray:
    return x.detach().float().cpu().numpy()


def visualize(config: str,
              out_dir: str,
              img: Optional[str] = None,
              ann: Optional[str] = None,
              boxes: Optional[Sequence[float]] = None,
              checkpoint: Optional[str] = None,
              input_size: Optional[Tuple[int, int]] = None,
              device: str = 'cpu',
              cfg_options: Optional[Dict] = None,
              seed: int = 0) -> Dict:
    """Compute the maps and write the PNGs.

    Returns:
        dict: ``files`` (written PNG paths), ``maps`` (name -> list of
        per-level ``(h, w)`` arrays), ``levels`` (names), ``weights``
        (what was loaded), ``boxes`` (in input pixels).
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    torch.manual_seed(seed)
    cfg = load_config(config, cfg_options)
    model = build_model(cfg, device)
    loaded = _load_weights(model, cfg, checkpoint)
    model.eval()
    student = get_student(model)
    teacher = get_teacher(model)
    image, gt = load_image_and_boxes(img, ann, boxes, seed=seed)
    inputs, samples, resized = prepare_batch(model, image, gt, input_size,
                                             device)
    from mmkd_dense.structures import DistillBatchContext
    context = DistillBatchContext.from_data_samples(samples, inputs)
    in_h, in_w = context.batch_input_shape
    with torch.no_grad():
        s_feats = _features(student, inputs)
        t_feats = _features(teacher, inputs) if teacher is not None else []
        maps: Dict[str, List[np.ndarray]] = {'student': [], 'teacher': [],
                                             'diff': []}
        levels = []
        providers = weight_map_providers(get_distiller(model))
        for name in providers:
            maps[name] = []
        for i, s in enumerate(s_feats):
            levels.append(f'P{int(round(math.log2(in_h / s.shape[-2])))}')
            maps['student'].append(_to_np(s.abs().mean(1)[0]))
            if not t_feats:
                continue
            t = t_feats[i]
            maps['teacher'].append(_to_np(t.abs().mean(1)[0]))
            s_r = s if s.shape[-2:] == t.shape[-2:] else F.interpolate(
                s, size=t.shape[-2:], mode='bilinear', align_corners=False)
            if s_r.shape[1] == t.shape[1]:
                diff = ((s_r - t)**2).mean(1)
            else:
                ms, mt = s_r.abs().mean(1), t.abs().mean(1)
                diff = (ms / ms.mean().clamp(min=1e-12) -
                        mt / mt.mean().clamp(min=1e-12)).abs()
            maps['diff'].append(_to_np(diff[0]))
            for name, fn in providers.items():
                maps[name].append(_to_np(fn(context, t)[0]))
    maps = {k: v for k, v in maps.items() if v}

    os.makedirs(out_dir, exist_ok=True)
    files = []
    canvas = np.zeros((in_h, in_w, 3), dtype=np.uint8)  # padded input
    canvas[:resized.shape[0], :resized.shape[1]] = resized[..., ::-1]
    gt_in = _to_np(context.gt_bboxes[0]) if context.gt_bboxes else np.zeros(
        (0, 4))
    titles = dict(student='student mean|F|', teacher='teacher mean|F|',
                  diff='student vs teacher', fgd_fg='FGD fg mask',
                  fgd_bg='FGD bg mask', fgd_att='FGD spatial att (T)',
                  lsfi_att='LSFI spatial att (T)', disw='DS2D2 DISW',
                  cid='CID weights')

    def draw(ax, arr, title):
        ax.imshow(arr, cmap='jet', interpolation='nearest',
                  extent=(0, in_w, in_h, 0))
        for x1, y1, x2, y2 in gt_in:
            ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1,
                                       fill=False, ec='white', lw=0.8))
        ax.set_title(title, fontsize=8)
        ax.axis('off')

    for name, per_level in maps.items():
        for level, arr in zip(levels, per_level):
            fig, ax = plt.subplots(figsize=(4, 4 * in_h / in_w + 0.4))
            draw(ax, arr, f'{titles.get(name, name)} {level}')
            fig.colorbar(ax.images[0], ax=ax, fraction=0.046, pad=0.04)
            path = osp.join(out_dir, f'{name}_{level}.png')
            fig.savefig(path, dpi=100, bbox_inches='tight')
            plt.close(fig)
            files.append(path)
    names = list(maps)
    rows, cols = len(levels), len(names) + 1
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows),
                             squeeze=False)
    for r, level in enumerate(levels):
        axes[r][0].imshow(canvas, extent=(0, in_w, in_h, 0))
        for x1, y1, x2, y2 in gt_in:
            axes[r][0].add_patch(plt.Rectangle(
                (x1, y1), x2 - x1, y2 - y1, fill=False, ec='lime', lw=0.8))
        axes[r][0].set_title(f'input {level}', fontsize=8)
        axes[r][0].axis('off')
        for c, name in enumerate(names, start=1):
            draw(axes[r][c], maps[name][r], f'{titles.get(name, name)}')
    fig.suptitle(f'{osp.basename(config)} ({loaded})', fontsize=9)
    path = osp.join(out_dir, 'overview.png')
    fig.savefig(path, dpi=100, bbox_inches='tight')
    plt.close(fig)
    files.append(path)
    return dict(files=files, maps=maps, levels=levels, weights=loaded,
                boxes=gt_in)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='PNG heatmaps of teacher/student FPN features, their '
        'difference and the KD weight maps')
    parser.add_argument('config', help='distillation (or detector) config')
    parser.add_argument('--img', help='image file (default: synthetic)')
    parser.add_argument('--ann', help='COCO json with the image\'s boxes')
    parser.add_argument('--boxes', nargs='+', type=float,
                        help='GT boxes x1 y1 x2 y2 ... in image pixels')
    parser.add_argument('--checkpoint', help='distillation/detector ckpt')
    parser.add_argument('--input-size', nargs=2, type=int,
                        metavar=('H', 'W'),
                        help='resize (keep ratio) to fit H x W')
    parser.add_argument('--out-dir', default='work_dirs/vis_features')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def main(argv=None) -> Dict:
    args = parse_args(argv)
    result = visualize(args.config, args.out_dir, img=args.img,
                       ann=args.ann, boxes=args.boxes,
                       checkpoint=args.checkpoint,
                       input_size=args.input_size, device=args.device,
                       cfg_options=args.cfg_options, seed=args.seed)
    print(f'weights: {result["weights"]}; levels {result["levels"]}; '
          f'maps {list(result["maps"])}')
    print(f'wrote {len(result["files"])} PNGs to {args.out_dir} '
          '(overview.png has everything)')
    return result


if __name__ == '__main__':
    main()
