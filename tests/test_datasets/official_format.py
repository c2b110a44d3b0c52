# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Writers of tiny dataset files in each official format (for tests)."""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    'write_image', 'write_dior', 'write_dota', 'write_visdrone',
    'write_cityscapes', 'write_voc', 'file_digest'
]


def write_image(path: str, width: int, height: int, seed: int = 0) -> None:
    """Smooth random image (compresses like a photo)."""
    import cv2
    os.makedirs(osp.dirname(path), exist_ok=True)
    rng = np.random.RandomState(seed)
    small = (rng.rand(max(height // 16, 2), max(width // 16, 2), 3) *
             255).astype(np.uint8)
    img = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    cv2.imwrite(path, img)


def file_digest(folder: str) -> Dict[str, bytes]:
    """Path -> content of every file under ``folder``."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = osp.join(root, name)
            with open(path, 'rb') as f:
                out[path] = f.read()
    return out


def _voc_xml(filename: str, width: int, height: int,
             objects: Sequence[Tuple]) -> str:
    lines = ['<annotation>', f'\t<filename>{filename}</filename>',
             '\t<source>', '\t\t<database>DIOR</database>', '\t</source>',
             '\t<size>', f'\t\t<width>{width}</width>',
             f'\t\t<height>{height}</height>', '\t\t<depth>3</depth>',
             '\t</size>', '\t<segmented>0</segmented>']
    for obj in objects:
        name, x1, y1, x2, y2 = obj[:5]
        difficult = obj[5] if len(obj) > 5 else None
        lines += ['\t<object>', f'\t\t<name>{name}</name>',
                  '\t\t<pose>Unspecified</pose>',
                  '\t\t<truncated>0</truncated>']
        if difficult is not None:
            lines.append(f'\t\t<difficult>{difficult}</difficult>')
        lines += ['\t\t<bndbox>', f'\t\t\t<xmin>{x1}</xmin>',
                  f'\t\t\t<ymin>{y1}</ymin>', f'\t\t\t<xmax>{x2}</xmax>',
                  f'\t\t\t<ymax>{y2}</ymax>', '\t\t</bndbox>', '\t</object>']
    lines.append('</annotation>')
    return '\n'.join(lines) + '\n'


def write_dior(root: str,
               splits: Dict[str, List[Tuple[str, List[Tuple]]]],
               size: Tuple[int, int] = (160, 128),
               dior_r: bool = False,
               write_images: bool = True) -> str:
    """DIOR layout: ``JPEGImages-{trainval,test}/``, ``Annotations/`` (or
    ``Annotations/Horizontal Bounding Boxes/`` with ``dior_r``) and
    ``ImageSets/Main/<split>.txt``.

    Args:
        splits: split -> list of (image id, objects); an object is
            ``(name, xmin, ymin, xmax, ymax[, difficult])``.
        size: (width, height) of every image.

    Returns:
        str: the annotation folder.
    """
    width, height = size
    ann_dir = osp.join(root, 'Annotations')
    if dior_r:
        ann_dir = osp.join(ann_dir, 'Horizontal Bounding Boxes')
    os.makedirs(ann_dir, exist_ok=True)
    os.makedirs(osp.join(root, 'ImageSets', 'Main'), exist_ok=True)
    for split, items in splits.items():
        img_dir = osp.join(root, 'JPEGImages-test' if split == 'test' else
                           'JPEGImages-trainval')
        with open(osp.join(root, 'ImageSets', 'Main', f'{split}.txt'),
                  'w') as f:
            f.write(''.join(f'{i}\n' for i, _ in items))
        for k, (img_id, objects) in enumerate(items):
            with open(osp.join(ann_dir, f'{img_id}.xml'), 'w') as f:
                f.write(_voc_xml(f'{img_id}.jpg', width, height, objects))
            if write_images:
                write_image(osp.join(img_dir, f'{img_id}.jpg'), width, height,
                            seed=k)
    return ann_dir


def write_voc(root: str, year: str, split: str,
              items: List[Tuple[str, List[Tuple]]],
              size: Tuple[int, int] = (160, 128)) -> None:
    """Tiny ``VOCdevkit/VOC<year>`` folder."""
    base = osp.join(root, f'VOC{year}')
    os.makedirs(osp.join(base, 'Annotations'), exist_ok=True)
    os.makedirs(osp.join(base, 'ImageSets', 'Main'), exist_ok=True)
    with open(osp.join(base, 'ImageSets', 'Main', f'{split}.txt'), 'w') as f:
        f.write(''.join(f'{i}\n' for i, _ in items))
    for k, (img_id, objects) in enumerate(items):
        with open(osp.join(base, 'Annotations', f'{img_id}.xml'), 'w') as f:
            f.write(_voc_xml(f'{img_id}.jpg', size[0], size[1], objects))
        write_image(osp.join(base, 'JPEGImages', f'{img_id}.jpg'), *size,
                    seed=k)


def write_dota(src: str,
               images: Dict[str, Tuple[int, int, List[str]]],
               header: bool = True,
               missing_images: Sequence[str] = ()) -> None:
    """DOTA layout ``<src>/images/*.png`` + ``<src>/labelTxt/*.txt``.

    Args:
        images: stem -> (width, height, label lines) where each line is the
            raw object line text.
        header: write ``imagesource:`` / ``gsd:`` header lines.
        missing_images: stems whose image is not written.
    """
    os.makedirs(osp.join(src, 'labelTxt'), exist_ok=True)
    for k, (stem, (w, h, lines)) in enumerate(images.items()):
        with open(osp.join(src, 'labelTxt', f'{stem}.txt'), 'w') as f:
            if header:
                f.write('imagesource:GoogleEarth\ngsd:0.146343590398\n')
            f.write(''.join(line + '\n' for line in lines))
        if stem not in missing_images:
            write_image(osp.join(src, 'images', f'{stem}.png'), w, h, seed=k)


def dota_line(x1: float, y1: float, x2: float, y2: float, name: str,
              difficult: Optional[int] = 0) -> str:
    """An axis-aligned DOTA object line (clockwise polygon)."""
    coords = [x1, y1, x2, y1, x2, y2, x1, y2]
    text = ' '.join(f'{c:g}' for c in coords) + f' {name}'
    return text if difficult is None else f'{text} {difficult}'


def write_visdrone(split_dir: str,
                   images: Dict[str, Tuple[int, int, List[str]]],
                   missing_images: Sequence[str] = ()) -> None:
    """VisDrone split ``images/*.jpg`` + ``annotations/*.txt``."""
    os.makedirs(osp.join(split_dir, 'annotations'), exist_ok=True)
    for k, (stem, (w, h, lines)) in enumerate(images.items()):
        with open(osp.join(split_dir, 'annotations', f'{stem}.txt'),
                  'w') as f:
            f.write(''.join(line + '\n' for line in lines))
        if stem not in missing_images:
            write_image(osp.join(split_dir, 'images', f'{stem}.jpg'), w, h,
                        seed=k)


def write_cityscapes(root: str, split: str, city: str,
                     frames: Dict[str, List[Tuple[str, List[List[float]]]]],
                     size: Tuple[int, int] = (128, 64)) -> None:
    """``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` and
    ``gtFine/<split>/<city>/*_gtFine_polygons.json`` (no instanceIds png,
    so the converter renders the polygons).

    Args:
        frames: frame base name -> list of (label, polygon [[x, y], ...])
            in drawing order (later ones occlude earlier ones).
        size: (width, height).
    """
    width, height = size
    gt_dir = osp.join(root, 'gtFine', split, city)
    os.makedirs(gt_dir, exist_ok=True)
    for k, (base, objects) in enumerate(frames.items()):
        write_image(osp.join(root, 'leftImg8bit', split, city,
                             f'{base}_leftImg8bit.png'), width, height,
                    seed=k)
        with open(osp.join(gt_dir, f'{base}_gtFine_polygons.json'),
                  'w') as f:
            json.dump(dict(imgHeight=height, imgWidth=width,
                           objects=[dict(label=label, polygon=poly)
                                    for label, poly in objects]), f)
