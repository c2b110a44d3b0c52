# Copyright (c) mmkd_dense contributors. All rights reserved.
"""CID (Centerness-based Instance-aware Distillation) weights.

CID + Light-ML, arXiv 2411.02861 (Du et al.): CID "selects valuable regions
around instances through the centerness of proposals". Only the abstract is
public; this is the proposed design of ``docs/methods.md`` section 3:

1. Enlarge each GT box ``g`` about its centre to ``ĝ`` with half-width
   ``max(expand * w / 2, min_half * s)`` and half-height
   ``max(expand * h / 2, min_half * s)`` (``s`` the level stride; defaults
   ``expand = 1.5``, ``min_half = 1``), so it includes context and even a tiny
   object covers at least one prior with positive weight.
2. FCOS centerness of each prior centre ``p`` w.r.t. ``ĝ``:
   ``c(p, ĝ) = sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b))`` inside
   ``ĝ`` (0 outside and on its border).
3. Instance-aware normalisation over the level's priors of the image:
   ``c~(p, g) = c(p, ĝ) / sum_q c(q, ĝ)`` -- every instance weighs 1 per
   level, whatever its size.
4. ``W(p) = sum_g c~(p, g)``.

The centerness is separable, ``c = sqrt(r_x) * sqrt(r_y)``, so a level's map
is an ``(M, H) x (M, W)`` product per image: no ``(M, H, W)`` tensor and no
Python loop over boxes or pixels.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

from mmkd_dense.structures import DistillBatchContext

__all__ = [
    'enlarge_boxes', 'axis_centerness', 'cid_weight_map',
    'cid_point_weights', 'infer_stride', 'cid_weights', 'cid_fg_bg_masks'
]


def enlarge_boxes(boxes: Tensor,
                  min_half_w: Tensor,
                  min_half_h: Tensor,
                  expand: float = 1.5) -> Tensor:
    """Enlarge boxes about their centres (CID step 1).

    Args:
        boxes (Tensor): ``(M, 4)`` ``(x1, y1, x2, y2)``.
        min_half_w (Tensor | float): lower bound of the half-width, scalar
            or ``(M,)``.
        min_half_h (Tensor | float): lower bound of the half-height.
        expand (float): scale of the box size. Defaults to 1.5.

    Returns:
        Tensor: ``(M, 4)`` enlarged boxes, half-size
        ``max(expand * size / 2, min_half)``.
    """
    boxes = boxes.float()
    cx = (boxes[:, 0] + boxes[:, 2]) * 0.5
    cy = (boxes[:, 1] + boxes[:, 3]) * 0.5
    half_w = torch.clamp_min((boxes[:, 2] - boxes[:, 0]) * (0.5 * expand),
                             0).maximum(torch.as_tensor(min_half_w,
                                                        dtype=boxes.dtype,
                                                        device=boxes.device))
    half_h = torch.clamp_min((boxes[:, 3] - boxes[:, 1]) * (0.5 * expand),
                             0).maximum(torch.as_tensor(min_half_h,
                                                        dtype=boxes.dtype,
                                                        device=boxes.device))
    return torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h],
                       dim=1)


def axis_centerness(coords: Tensor, low: Tensor, high: Tensor) -> Tensor:
    """One-axis FCOS centerness factor ``sqrt(min(d1, d2) / max(d1, d2))``.

    Args:
        coords (Tensor): ``(P,)`` prior coordinates on this axis, or
            ``(M, P)``.
        low (Tensor): ``(M,)`` box starts.
        high (Tensor): ``(M,)`` box ends.

    Returns:
        Tensor: ``(M, P)``, in ``[0, 1]``, 0 outside ``(low, high)``.
    """
    d1 = coords - low[:, None]
    d2 = high[:, None] - coords
    ratio = torch.minimum(d1, d2).clamp(min=0) / torch.maximum(d1, d2).clamp(
        min=1e-12)
    return ratio.sqrt()


def cid_weight_map(boxes: Tensor,
                   image_index: Tensor,
                   num_images: int,
                   feat_hw: Tuple[int, int],
                   stride: Tuple[float, float],
                   offset: float = 0.5,
                   expand: float = 1.5,
                   min_half: float = 1.0) -> Tensor:
    """CID weight map of one level (steps 1-4 of the module docstring).

    Prior ``(i, j)`` has its centre at ``((j + offset) * s_w,
    (i + offset) * s_h)`` in padded-input pixels (``offset = 0`` for mmdet
    ``AnchorGenerator`` heads such as RetinaNet/GFL/ATSS, ``0.5`` for
    ``MlvlPointGenerator`` heads such as FCOS and for feature-map cells).

    Args:
        boxes (Tensor): ``(M, 4)`` GT boxes of the batch, padded-input px.
        image_index (Tensor): ``(M,)`` image of each box.
        num_images (int): N.
        feat_hw (tuple[int, int]): ``(H, W)`` of the level.
        stride (tuple[float, float]): ``(s_h, s_w)`` in pixels.
        offset (float): prior-centre offset in strides. Defaults to 0.5.
        expand (float): box enlargement factor. Defaults to 1.5.
        min_half (float): minimum half-size of the enlarged box in strides.
            Defaults to 1.0.

    Returns:
        Tensor: ``(N, H, W)`` float32 ``W(p)``; each instance contributes
        total mass 1 (0 if no prior lies strictly inside its enlarged box);
        all zeros for images without GT.
    """
    height, width = int(feat_hw[0]), int(feat_hw[1])
    stride_h, stride_w = float(stride[0]), float(stride[1])
    device = boxes.device
    if boxes.numel() == 0:
        return torch.zeros((num_images, height, width), device=device,
                           dtype=torch.float32)
    big = enlarge_boxes(boxes, min_half * stride_w, min_half * stride_h,
                        expand)
    xs = (torch.arange(width, device=device, dtype=torch.float32) +
          offset) * stride_w
    ys = (torch.arange(height, device=device, dtype=torch.float32) +
          offset) * stride_h
    cx = axis_centerness(xs, big[:, 0], big[:, 2])  # (M, W)
    cy = axis_centerness(ys, big[:, 1], big[:, 3])  # (M, H)
    # sum_q c(q) = (sum_x cx) * (sum_y cy); c~ = c / sum_q c(q)
    norm = cx.sum(1) * cy.sum(1)  # (M,)
    scale = torch.where(norm > 0, 1.0 / norm.clamp(min=1e-12),
                        torch.zeros_like(norm))
    onehot = torch.zeros((num_images, boxes.shape[0]), device=device,
                         dtype=torch.float32)
    onehot[image_index.to(device), torch.arange(boxes.shape[0],
                                                device=device)] = 1.0
    # W[n] = sum_m 1[img_m = n] * scale_m * cy_m^T cx_m  -> (N, H, W)
    left = (onehot * scale[None])[:, :, None] * cy[None]  # (N, M, H)
    return torch.bmm(left.transpose(1, 2),
                     cx[None].expand(num_images, -1, -1))


def cid_point_weights(points: Tensor,
                      point_image: Tensor,
                      boxes: Tensor,
                      box_image: Tensor,
                      min_half: float,
                      expand: float = 1.5) -> Tensor:
    """CID weights of arbitrary points (e.g. RoI centres of a two-stage
    head): the centerness of each point in each enlarged GT box of its own
    image, normalised per instance over all points of that image, summed
    over instances.

    Args:
        points (Tensor): ``(P, 2)`` ``(x, y)`` in padded-input pixels.
        point_image (Tensor): ``(P,)`` image of each point.
        boxes (Tensor): ``(M, 4)`` GT boxes.
        box_image (Tensor): ``(M,)`` image of each box.
        min_half (float): minimum half-size of an enlarged box in pixels.
        expand (float): box enlargement factor. Defaults to 1.5.

    Returns:
        Tensor: ``(P,)`` weights; each instance with at least one point
        inside its enlarged box contributes total mass 1.
    """
    if boxes.numel() == 0 or points.numel() == 0:
        return points.new_zeros((points.shape[0],), dtype=torch.float32)
    points = points.float()
    big = enlarge_boxes(boxes, min_half, min_half, expand)
    cx = axis_centerness(points[None, :, 0], big[:, 0], big[:, 2])  # (M, P)
    cy = axis_centerness(points[None, :, 1], big[:, 1], big[:, 3])
    same = box_image.to(points.device)[:, None] == point_image[None, :]
    cent = cx * cy * same  # (M, P)
    norm = cent.sum(1, keepdim=True)
    cent = torch.where(norm > 0, cent / norm.clamp(min=1e-12),
                       torch.zeros_like(cent))
    return cent.sum(0)


def infer_stride(batch_input_shape: Tuple[int, int],
                 feat_hw: Tuple[int, int]) -> Tuple[float, float]:
    """Stride of a feature map from its size.

    The smallest power of two ``s`` with ``ceil(H_in / s) == H`` and
    ``ceil(W_in / s) == W`` (FPN levels, also the extra stride-2 convs of
    P6/P7); if none exists, ``(H_in / H, W_in / W)``.

    Returns:
        tuple[float, float]: ``(s_h, s_w)``.
    """
    in_h, in_w = batch_input_shape
    height, width = feat_hw
    for k in range(12):
        s = 2**k
        if -(-in_h // s) == height and -(-in_w // s) == width:
            return float(s), float(s)
    return in_h / height, in_w / width


def cid_weights(context: DistillBatchContext,
                feat_hw: Tuple[int, int],
                device: torch.device,
                stride: Optional[Tuple[float, float]] = None,
                offset: float = 0.5,
                expand: float = 1.5,
                min_half: float = 1.0) -> Tensor:
    """CID weight map of one level for the batch, computed once per batch
    and level (cached in the context).

    Args:
        context (DistillBatchContext): the batch (GT boxes, input shape).
        feat_hw (tuple[int, int]): ``(H, W)``.
        device (torch.device): device of the result.
        stride (tuple[float, float], optional): ``(s_h, s_w)``; inferred
            with :func:`infer_stride` when None.
        offset, expand, min_half: see :func:`cid_weight_map`.

    Returns:
        Tensor: ``(N, H, W)`` weights ``W(p)``.
    """
    feat_hw = (int(feat_hw[0]), int(feat_hw[1]))
    if stride is None:
        stride = infer_stride(context.batch_input_shape, feat_hw)
    stride = (float(stride[0]), float(stride[1]))

    def build() -> Tensor:
        boxes, index = context.flat_gt_bboxes(device)
        return cid_weight_map(boxes, index, context.num_images, feat_hw,
                              stride, offset, expand, min_half)

    key = ('cid_weights', feat_hw, stride, float(offset), float(expand),
           float(min_half), str(device))
    return context.cached(key, build)


def cid_fg_bg_masks(context: DistillBatchContext,
                    feat_hw: Tuple[int, int],
                    device: torch.device,
                    norm: str = 'instance',
                    **kwargs) -> Tuple[Tensor, Tensor]:
    """CID weights as the foreground/background masks of a feature loss
    (FGD-style ``M_fg``/``M_bg``).

    Args:
        context (DistillBatchContext): the batch.
        feat_hw (tuple[int, int]): ``(H, W)``.
        device (torch.device): device of the masks.
        norm (str): ``'instance'``: ``M_fg = W`` (every instance has mass 1,
            the same convention as FGD's scale mask ``1 / (h_b * w_b)``, so
            FGD's alpha keeps its meaning); ``'image'``: ``M_fg = W / sum W``
            per image (every image has mass 1).
        **kwargs: ``stride``, ``offset``, ``expand``, ``min_half`` of
            :func:`cid_weights`.

    Returns:
        tuple[Tensor, Tensor]: ``(N, H, W)`` ``M_fg`` and
        ``M_bg = 1[W == 0] / sum 1[W == 0]`` per image.
    """
    if norm not in ('instance', 'image'):
        raise ValueError(f'norm must be "instance" or "image", got "{norm}".')

    def build() -> Tuple[Tensor, Tensor]:
        weight = cid_weights(context, feat_hw, device, **kwargs)
        fg = weight
        if norm == 'image':
            fg = weight / weight.sum(dim=(1, 2), keepdim=True).clamp(
                min=1e-12)
        bg = (weight <= 0).float()
        bg = bg / bg.sum(dim=(1, 2), keepdim=True).clamp(min=1.0)
        return fg, bg

    key = ('cid_fg_bg', tuple(int(v) for v in feat_hw), norm,
           tuple(sorted((k, str(v)) for k, v in kwargs.items())), str(device))
    return context.cached(key, build)
