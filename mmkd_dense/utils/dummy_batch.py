# Copyright (c) mmkd_dense contributors. All rights reserved.
"""A small synthetic detection batch for dry runs and tests."""
from typing import List, Sequence, Tuple

import torch
from torch import Tensor

__all__ = ['make_dummy_batch']


def make_dummy_batch(num_images: int = 2,
                     input_shape: Tuple[int, int] = (128, 160),
                     num_classes: int = 80,
                     boxes_per_image: Sequence[int] = (3, 1),
                     seed: int = 0) -> Tuple[Tensor, List]:
    """Preprocessed inputs and ``DetDataSample`` s with random GT boxes.

    Args:
        num_images (int): N.
        input_shape (tuple[int, int]): padded ``(H, W)``.
        num_classes (int): labels are drawn from ``[0, num_classes)``.
        boxes_per_image (Sequence[int]): boxes of image i are
            ``boxes_per_image[i % len]`` (0 gives an image without GT).
        seed (int): random seed.

    Returns:
        tuple[Tensor, list[DetDataSample]]: ``(N, 3, H, W)`` inputs and
        the data samples.
    """
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    gen = torch.Generator().manual_seed(seed)
    height, width = input_shape
    inputs = torch.randn(num_images, 3, height, width, generator=gen)
    samples = []
    for i in range(num_images):
        n = boxes_per_image[i % len(boxes_per_image)]
        xy = torch.rand(n, 2, generator=gen) * torch.tensor(
            [width * 0.6, height * 0.6])
        wh = 8 + torch.rand(n, 2, generator=gen) * torch.tensor(
            [width * 0.35, height * 0.35])
        sample = DetDataSample(
            metainfo=dict(
                img_shape=input_shape, ori_shape=input_shape,
                pad_shape=input_shape, batch_input_shape=input_shape,
                scale_factor=(1.0, 1.0), img_id=i))
        sample.gt_instances = InstanceData(
            bboxes=torch.cat([xy, xy + wh], dim=1),
            labels=torch.randint(0, num_classes, (n,), generator=gen))
        sample.ignored_instances = InstanceData(
            bboxes=torch.zeros((0, 4)),
            labels=torch.zeros((0,), dtype=torch.long))
        samples.append(sample)
    return inputs, samples
