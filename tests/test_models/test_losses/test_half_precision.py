# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Every registered loss and connector under float16 and bfloat16.

``tools/train.py --amp`` runs the forward pass under ``torch.autocast``
(float16 on CUDA, bfloat16 on CPU), so the losses receive half-precision
features. Each case below runs on the same seeded module and inputs:

- ``reference``: float32 inputs holding the half-precision values (so only
  the computation differs), no autocast;
- ``autocast``: half-precision inputs under ``torch.autocast('cpu', dtype)``
  (what ``--amp`` feeds a loss);
- ``plain`` (losses without network parts): half-precision inputs without
  autocast.

Each is run on normal features, on features with a flat (all-equal, as
zero padding) region and a constant channel, and on large-magnitude
features (x300: squares overflow float16). Checks: the value is finite (a
float32 scalar for losses) and the gradients w.r.t. every input are finite,
in the input dtype, and close to the reference.

float16 gradients are taken as ``--amp`` takes them on CUDA: through a
loss scaler (GradScaler's start value 2**16, halved while a gradient is not
finite, down to 1; then unscaled in float32), so that small gradients do
not underflow float16 in the backward pass of half-precision layers.
bfloat16 (float32's range) has no scaler, as on the CPU.

Tolerances (relative error of the value / relative L2 error of each
gradient):

- feature losses (float32 islands): values 1e-6 (the same float32
  computation); gradients 1e-3 for float16 and 8e-3 for bfloat16, the
  rounding of the returned gradient to the input dtype (unit roundoff
  4.9e-4 / 3.9e-3; measured <= 2.6e-4 / 2.1e-3);
- losses and connectors that run network parts under autocast (the
  teacher head of CID, the amplifier heads of DS2D2, RoI pooling, the
  connectors' convs): values 1e-2 / 5e-2, gradients 1e-1 / 2e-1 for float16
  / bfloat16 (measured up to 1.7e-3 / 3.8e-2 and 7.7e-2 / 1.5e-1); these
  are the precision of the half-precision layers, whose outputs the loss
  then handles in float32. For the CID dense and CrossKD cases the
  ``large`` variant (box deltas of ~200 from x300 inputs) is checked for
  finiteness only: the GIoU of such far-off boxes makes single gradient
  entries depend strongly on the teacher head's half-precision output.

The list of cases is checked against the registry, so a new loss or
connector without a case here fails ``test_every_registered_class_has_a_
case``.
"""
import inspect
import unittest
from contextlib import nullcontext
from typing import Callable, Dict, List, NamedTuple, Sequence, Tuple

import torch
from torch import Tensor, nn

import mmkd_dense  # noqa: F401
import mmkd_dense.models.connectors as connectors
import mmkd_dense.models.losses as losses
from mmkd_dense.registry import MODELS
from mmkd_dense.structures import DistillBatchContext
from mmkd_dense.utils.dummy_batch import make_dummy_batch
from ..box_context import box_context
from mmkd_dense.utils.amp import apply_cpu_bfloat16_shims
from ._ds2d2_helpers import (HEADS, HeadsOnly, build, frozen,
                             single_stage_detector_cfg,
                             single_stage_train_cfg, two_stage_detector_cfg,
                             wire)

DTYPES = (torch.float16, torch.bfloat16)
VARIANTS = ('normal', 'flat', 'large')
#: (value, gradient) relative tolerances per dtype
FEATURE_TOL = {torch.float16: (1e-6, 1e-3), torch.bfloat16: (1e-6, 8e-3)}
NETWORK_TOL = {torch.float16: (1e-2, 1e-1), torch.bfloat16: (5e-2, 2e-1)}
INPUT = (96, 128)  # 12x16 level at stride 8


class Run(NamedTuple):
    """What one case hands the runner: ``fn(*inputs)`` gives the output;
    ``inputs`` are float32 leaves (cast to the tested dtype by the
    runner)."""
    fn: Callable[..., object]
    inputs: Tuple[Tensor, ...]


class Case(NamedTuple):
    cls_name: str
    make: Callable[[str], Run]  # variant -> Run
    network: bool  # runs network parts: autocast only, NETWORK_TOL
    finite_only: Tuple[str, ...] = ()  # variants checked for finiteness


def features(variant: str, shape=(2, 8, 12, 16), seed=0) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=gen)
    if variant == 'flat':
        x[..., shape[-2] // 2:, shape[-1] // 2:] = 0.  # "zero padding"
        x[:, 0] = 0.25  # one constant channel
    elif variant == 'large':
        x = x * 300
    return x


def pair(variant: str, s_channels=8, t_channels=8, seed=0):
    s = features(variant, (2, s_channels, 12, 16), seed)
    t = features(variant, (2, t_channels, 12, 16), seed + 100)
    if variant == 'flat':  # the same padded region in the teacher
        t[..., 6:, 8:] = 0.
    return s, t


def feature_context() -> DistillBatchContext:
    # border boxes (right, bottom, corner) and an image without GT
    return box_context([[[40, 30, 128, 70], [10, 50, 60, 96],
                         [100, 80, 128, 96]], []], input_shape=INPUT)


def _seeded(module_fn: Callable[[], nn.Module]) -> nn.Module:
    torch.manual_seed(0)
    return module_fn()


# ----------------------------------------------------------------- cases
def fgd_case(variant):
    loss = _seeded(lambda: losses.FGDLoss(6, 8))
    for block in (loss.context_student, loss.context_teacher):
        nn.init.normal_(block.channel_add[-1].weight, std=0.1)
    ctx = feature_context()
    return Run(lambda s, t: loss(s, t, ctx), pair(variant, 6, 8))


def lsfi_case(variant):
    loss, ctx = losses.LSFILoss(), feature_context()
    return Run(lambda s, t: loss(s, t, ctx), pair(variant))


def mdc_case(variant):
    loss = losses.MDCLoss()
    return Run(lambda s, t: loss(s, t), pair(variant))


def disw_case(variant):
    loss = _seeded(lambda: losses.DISWFeatureLoss(
        loss_weight=1.0, student_channels=6, teacher_channels=8))
    ctx = feature_context()
    return Run(lambda s, t: loss(s, t, ctx), pair(variant, 6, 8))


def ds2d2_explicit_case(variant):
    loss = _seeded(lambda: losses.DS2D2ExplicitLoss(8, 8, 1.0, 1.0))
    ctx = feature_context()
    s, t = pair(variant)
    s2, t2 = (x[..., ::2, ::2].contiguous() for x in (s, t))
    return Run(lambda a, b, c, d: loss((a, c), (b, d), ctx), (s, t, s2, t2))


def cid_mask_case(variant):
    loss = _seeded(lambda: losses.CIDWeightedFeatureLoss(
        loss=dict(type='mmkd_dense.FGDLoss', student_channels=8,
                  teacher_channels=8), mode='mask'))
    ctx = feature_context()
    return Run(lambda s, t: loss(s, t, ctx), pair(variant))


def cid_feature_case(variant):
    # a wrapped loss that is not AMP-safe itself (mmrazor's PKD)
    loss = losses.CIDWeightedFeatureLoss(
        loss=dict(type='mmrazor.PKDLoss'), mode='feature', bg_weight=0.2)
    ctx = feature_context()
    return Run(lambda s, t: loss(s, t, ctx), pair(variant))


def _dense_head(kind, seed):
    torch.manual_seed(seed)
    return build(dict(HEADS[kind](), _scope_='mmdet',
                      train_cfg=single_stage_train_cfg(kind),
                      test_cfg=None))


def _levels(variant, channels=8, sizes=((8, 10), (4, 5)), seed=0):
    return tuple(features(variant, (2, channels) + size, seed + i)
                 for i, size in enumerate(sizes))


def cid_dense_case(kind):
    """Inputs: the student head's class and box outputs of both levels
    (the loss's own inputs); the teacher head runs inside the loss."""

    def make(variant):
        student = HeadsOnly(bbox_head=_dense_head(kind, 0))
        teacher = HeadsOnly(bbox_head=frozen(_dense_head(kind, 1)))
        _, samples = make_dummy_batch(num_images=2, input_shape=(64, 80),
                                      num_classes=3, boxes_per_image=(3, 1))
        ctx = DistillBatchContext(samples, (64, 80))
        loss = wire(losses.CIDLoss(box_kd='kl' if kind == 'gfl' else 'giou'),
                    student, teacher)
        feats_t = _levels(variant, seed=10)
        with torch.no_grad():
            cls, box = student.bbox_head(_levels(variant))[:2]
        return Run(lambda c0, c1, b0, b1: loss(([c0, c1], [b0, b1]),
                                               feats_t, ctx),
                   (cls[0], cls[1], box[0], box[1]))

    return make


class _RoIDetector(nn.Module):

    def __init__(self, seed):
        super().__init__()
        torch.manual_seed(seed)
        self.roi_head = build(dict(
            _scope_='mmdet', type='StandardRoIHead',
            bbox_roi_extractor=dict(
                type='SingleRoIExtractor',
                roi_layer=dict(type='RoIAlign', output_size=7,
                               sampling_ratio=0),
                out_channels=8, featmap_strides=[4, 8]),
            bbox_head=dict(type='Shared2FCBBoxHead', in_channels=8,
                           fc_out_channels=32, roi_feat_size=7,
                           num_classes=3)))


def _rois():
    gen = torch.Generator().manual_seed(2)
    xy = torch.rand(12, 2, generator=gen) * 50
    return torch.cat([torch.tensor([0.] * 6 + [1.] * 6)[:, None], xy,
                      xy + 5 + torch.rand(12, 2, generator=gen) * 20], 1)


def cid_roi_case(variant):
    """Inputs: the student RoI head's logits and deltas; the teacher RoI
    head runs inside the loss."""
    student, teacher = _RoIDetector(0), frozen(_RoIDetector(1))
    _, samples = make_dummy_batch(num_images=2, input_shape=(64, 80),
                                  num_classes=3, boxes_per_image=(2, 1))
    ctx = DistillBatchContext(samples, (64, 80))
    rois = _rois()
    sizes = ((16, 20), (8, 10))
    feats_t = _levels(variant, sizes=sizes, seed=10)
    loss = wire(losses.CIDRoILoss(), student, teacher)
    with torch.no_grad():
        feats = student.roi_head.bbox_roi_extractor(
            _levels(variant, sizes=sizes), rois)
        cls, reg = student.roi_head.bbox_head(feats)
    return Run(lambda c, r: loss(c, r, rois, feats_t, ctx), (cls, reg))


def ds2d2_dense_case(amplifier):

    def make(variant):
        student = HeadsOnly(bbox_head=_dense_head('retina', 0))
        teacher = HeadsOnly(bbox_head=frozen(_dense_head('retina', 1)))
        _, samples = make_dummy_batch(num_images=2, input_shape=(64, 80),
                                      num_classes=3, boxes_per_image=(3, 0))
        ctx = DistillBatchContext(samples, (64, 80))
        kwargs = {}
        if amplifier == 'high_frequency':
            kwargs['amplifier_cfg'] = dict(
                type='mmkd_dense.HFAmplifierDetector',
                detector=single_stage_detector_cfg('retina'))
        loss = wire(_seeded(lambda: losses.DS2D2DenseImplicitLoss(
            amplifier=amplifier, **kwargs)), student, teacher)
        feats_t = _levels(variant, seed=10)
        return Run(lambda f0, f1: loss((f0, f1), feats_t, ctx),
                   _levels(variant))

    return make


def ds2d2_roi_case(variant):
    from mmengine.structures import InstanceData
    torch.manual_seed(0)
    student = build(two_stage_detector_cfg())
    torch.manual_seed(1)
    teacher = frozen(build(two_stage_detector_cfg()))
    _, samples = make_dummy_batch(num_images=2, input_shape=(64, 80),
                                  num_classes=3, boxes_per_image=(3, 0))
    ctx = DistillBatchContext(samples, (64, 80))
    gen = torch.Generator().manual_seed(0)
    proposals = []
    for _ in range(2):
        xy = torch.rand(30, 2, generator=gen) * torch.tensor([60., 48.])
        wh = 4 + torch.rand(30, 2, generator=gen) * 20
        proposals.append(InstanceData(bboxes=torch.cat([xy, xy + wh], 1)))
    loss = wire(losses.DS2D2RoIImplicitLoss(), student, teacher)
    sizes = ((16, 20), (8, 10), (4, 5))
    feats_t = _levels(variant, sizes=sizes, seed=10)

    def fn(f0, f1, f2):
        torch.manual_seed(0)  # the RoI sampler draws at random
        return loss((f0, f1, f2), feats_t, ctx, rpn_results=proposals)

    return Run(fn, _levels(variant, sizes=sizes))


def _loss_cls(name):
    """The registered class (None while it is not in the registry)."""
    return getattr(losses, name, None)


def kdqfl_case(variant):
    loss = _loss_cls('KDQualityFocalLoss')(beta=1.0)
    pred = features(variant, (2, 3, 12, 16)).permute(0, 2, 3, 1)
    target = features(variant, (2, 3, 12, 16), 1).permute(0, 2, 3, 1)
    weight = torch.rand(2 * 12 * 16, generator=torch.Generator().manual_seed(
        2))
    return Run(lambda p, t: loss(p, t, weight=weight, avg_factor=7.0),
               (pred.reshape(-1, 3), target.reshape(-1, 3)))


def kdkl_case(variant):
    loss = _loss_cls('KDKLDivLoss')(temperature=10, class_reduction='mean')
    pred = features(variant, (2, 9, 12, 16)).permute(0, 2, 3, 1)
    target = features(variant, (2, 9, 12, 16), 1).permute(0, 2, 3, 1)
    return Run(lambda p, t: loss(p, t, avg_factor=4.0),
               (pred.reshape(-1, 9), target.reshape(-1, 9)))


def _gfl_pair_context():
    """GFL heads with anchors small enough for positives on every GT."""

    def head(seed):
        cfg = HEADS['gfl']()
        cfg['anchor_generator']['octave_base_scale'] = 2
        torch.manual_seed(seed)
        return build(dict(cfg, _scope_='mmdet',
                          train_cfg=single_stage_train_cfg('gfl'),
                          test_cfg=None))

    student = HeadsOnly(bbox_head=head(0))
    teacher = HeadsOnly(bbox_head=frozen(head(1)))
    _, samples = make_dummy_batch(num_images=2, input_shape=(64, 80),
                                  num_classes=3, boxes_per_image=(3, 1))
    return student, teacher, DistillBatchContext(samples, (64, 80))


def ld_case(variant):
    """Inputs: student and teacher GFL head outputs (both recorded)."""
    student, teacher, ctx = _gfl_pair_context()
    loss = _loss_cls('LDLoss')()
    loss.prepare_from_student(student)
    with torch.no_grad():
        cls_s, reg_s = student.bbox_head(_levels(variant))[:2]
        cls_t, reg_t = teacher.bbox_head(_levels(variant, seed=10))[:2]
    return Run(
        lambda c0, c1, r0, r1, t0, t1, u0, u1: loss(
            ([c0, c1], [r0, r1]), ([t0, t1], [u0, u1]), ctx),
        (cls_s[0], cls_s[1], reg_s[0], reg_s[1], cls_t[0], cls_t[1],
         reg_t[0], reg_t[1]))


def crosskd_case(variant):
    """RetinaNet, ``reused_teacher_head_idx=1``: inputs are the student's
    and teacher's tower features after conv 0 and the teacher outputs; the
    teacher's predictors run inside the loss."""
    student = HeadsOnly(bbox_head=_dense_head('retina', 0))
    teacher = HeadsOnly(bbox_head=frozen(_dense_head('retina', 1)))
    _, samples = make_dummy_batch(num_images=2, input_shape=(64, 80),
                                  num_classes=3, boxes_per_image=(3, 1))
    ctx = DistillBatchContext(samples, (64, 80))
    loss = _loss_cls('CrossKDLoss')(reused_teacher_head_idx=1)
    loss.prepare_from_student(student)
    loss.prepare_from_teacher(teacher)
    s_cls, s_reg = _levels(variant, seed=0), _levels(variant, seed=2)
    t_cls, t_reg = _levels(variant, seed=4), _levels(variant, seed=6)
    with torch.no_grad():
        outs_t = teacher.bbox_head(_levels(variant, seed=10))[:2]
    inputs = s_cls + s_reg + t_cls + t_reg + tuple(outs_t[0]) + tuple(
        outs_t[1])

    def fn(*x):
        return loss(x[0:2], x[2:4], x[4:6], x[6:8], (x[8:10], x[10:12]), ctx)

    return Run(fn, inputs)


def feature_adapter_case(variant):
    adapter = _seeded(lambda: connectors.FeatureAdapter(6, 8))
    return Run(lambda s: adapter(s), (features(variant, (2, 6, 12, 16)), ))


def light_ml_case(variant):
    module = _seeded(lambda: connectors.LightML(8))
    nn.init.normal_(module.mix.weight, std=0.1)  # not the identity start
    return Run(lambda c, r: module(c, r),
               (features(variant), features(variant, seed=1)))


CASES: Dict[str, Case] = {
    'fgd': Case('FGDLoss', fgd_case, False),
    'lsfi': Case('LSFILoss', lsfi_case, False),
    'mdc': Case('MDCLoss', mdc_case, False),
    'disw': Case('DISWFeatureLoss', disw_case, False),
    'ds2d2_explicit': Case('DS2D2ExplicitLoss', ds2d2_explicit_case, False),
    'cid_feature_mask': Case('CIDWeightedFeatureLoss', cid_mask_case, False),
    'cid_feature_pkd': Case('CIDWeightedFeatureLoss', cid_feature_case,
                            False),
    'cid_retina': Case('CIDLoss', cid_dense_case('retina'), True,
                       ('large', )),
    'cid_gfl': Case('CIDLoss', cid_dense_case('gfl'), True, ('large', )),
    'cid_roi': Case('CIDRoILoss', cid_roi_case, True),
    'ds2d2_dense_teacher': Case('DS2D2DenseImplicitLoss',
                                ds2d2_dense_case('teacher'), True),
    'ds2d2_dense_hf': Case('DS2D2DenseImplicitLoss',
                           ds2d2_dense_case('high_frequency'), True),
    'ds2d2_roi': Case('DS2D2RoIImplicitLoss', ds2d2_roi_case, True),
    'kd_quality_focal': Case('KDQualityFocalLoss', kdqfl_case, False),
    'kd_kl_div': Case('KDKLDivLoss', kdkl_case, False),
    'ld': Case('LDLoss', ld_case, False),
    'crosskd': Case('CrossKDLoss', crosskd_case, True, ('large', )),
    'feature_adapter': Case('FeatureAdapter', feature_adapter_case, True),
    'light_ml': Case('LightML', light_ml_case, True),
}


# ---------------------------------------------------------------- runner
def _scalar(out, weights: List[Tensor]) -> Tensor:
    """A float32 scalar of a loss or connector output (connectors: a fixed
    random projection of every output tensor)."""
    if isinstance(out, Tensor) and out.dim() == 0:
        return out
    outs = [out] if isinstance(out, Tensor) else list(out)
    if not weights:
        gen = torch.Generator().manual_seed(7)
        weights.extend(torch.randn(o.shape, generator=gen) for o in outs)
    return sum((o.float() * w).sum() for o, w in zip(outs, weights))


def run(case: Case, variant: str, dtype: torch.dtype, mode: str,
        weights: List[Tensor]) -> Tuple[Tensor, Sequence[Tensor], object]:
    """Build the case, run it in ``mode`` and return ``(value, grads,
    raw output)``; float16 gradients are unscaled float32 (see the module
    docstring), others in the input dtype."""
    job = case.make(variant)
    inputs = [x.to(dtype).float() if mode == 'reference' else x.to(dtype)
              for x in job.inputs]
    inputs = [x.requires_grad_() for x in inputs]
    ctx = torch.autocast('cpu', dtype=dtype) if mode == 'autocast' \
        else nullcontext()
    with ctx:
        out = job.fn(*inputs)
    value = _scalar(out, weights)
    if mode == 'reference' or dtype != torch.float16:
        grads = torch.autograd.grad(value, inputs, allow_unused=True)
        return value, grads, out
    scale = 2.0**16
    while True:
        grads = torch.autograd.grad(value * scale, inputs,
                                    allow_unused=True, retain_graph=True)
        finite = all(g is None or bool(torch.isfinite(g).all())
                     for g in grads)
        if finite or scale <= 1:
            break
        scale /= 2
    for grad in grads:
        assert grad is None or grad.dtype == dtype, (grad.dtype, dtype)
    return value, [g if g is None else g.float() / scale
                   for g in grads], out


def rel_err(a: Tensor, b: Tensor) -> float:
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm().clamp(min=1e-30))


class TestHalfPrecision(unittest.TestCase):

    def test_every_registered_class_has_a_case(self):
        names = set()
        for module in (losses, connectors):
            for name in module.__all__:
                obj = getattr(module, name)
                if inspect.isclass(obj) and issubclass(obj, nn.Module):
                    names.add(name)
        for name, cls in MODELS.module_dict.items():
            if cls.__module__.startswith(('mmkd_dense.models.losses',
                                          'mmkd_dense.models.connectors')):
                names.add(name)
        covered = {case.cls_name for case in CASES.values()}
        self.assertEqual(names - covered, set(),
                         'add a case to CASES in this file for each new '
                         'loss / connector')

    def _check(self, key: str) -> None:
        case = CASES[key]
        if case.cls_name not in MODELS.module_dict:
            self.skipTest(f'{case.cls_name} is not registered')
        self._check_case(key, case)

    def _check_case(self, key: str, case: Case) -> None:
        tols = NETWORK_TOL if case.network else FEATURE_TOL
        modes = ('autocast', ) if case.network else ('autocast', 'plain')
        for variant in VARIANTS:
            for dtype in DTYPES:
                weights: List[Tensor] = []
                ref, ref_grads, _ = run(case, variant, dtype, 'reference',
                                        weights)
                self.assertTrue(torch.isfinite(ref), (key, variant))
                for mode in modes:
                    with self.subTest(variant=variant, dtype=dtype,
                                      mode=mode):
                        value, grads, out = run(case, variant, dtype, mode,
                                                weights)
                        self.assertTrue(torch.isfinite(value))
                        if isinstance(out, Tensor) and out.dim() == 0:
                            self.assertEqual(out.dtype, torch.float32)
                        value_tol, grad_tol = tols[dtype]
                        close = variant not in case.finite_only
                        if close:
                            self.assertLessEqual(
                                abs(float(value) - float(ref)),
                                value_tol * abs(float(ref)) + 1e-9)
                        for grad, ref_grad in zip(grads, ref_grads):
                            if ref_grad is None:
                                self.assertIsNone(grad)
                                continue
                            if dtype != torch.float16:  # (fp16: in run)
                                self.assertEqual(grad.dtype, dtype)
                            self.assertTrue(torch.isfinite(grad).all())
                            if close:
                                self.assertLessEqual(
                                    rel_err(grad, ref_grad), grad_tol)


def setUpModule():
    # bfloat16 CPU RoI pooling / NMS, as tools/train.py --amp on a CPU
    apply_cpu_bfloat16_shims()


def _add_tests():
    for key in CASES:
        setattr(TestHalfPrecision, f'test_{key}',
                lambda self, key=key: self._check(key))


_add_tests()


class TestFloat32Island(unittest.TestCase):
    """The float32 path stays as it was: no copy of float32 inputs."""

    def test_float32_inputs_are_not_copied(self):
        from mmkd_dense.models.utils import float32_forward, to_float32
        x = torch.randn(2, 3)
        self.assertIs(to_float32(x), x)
        y = x.double()
        self.assertIs(to_float32(y), y)
        seen = []

        @float32_forward
        def f(a, b=None):
            seen.append((a, b, torch.is_autocast_enabled('cpu')))
            return a

        self.assertIs(f(x, b=[x]), x)
        self.assertIs(seen[-1][0], x)
        self.assertIs(seen[-1][1][0], x)
        half = x.half()
        out = f(half, b=(half, 'text'))
        self.assertEqual(out.dtype, torch.float32)
        self.assertEqual(seen[-1][1][0].dtype, torch.float32)
        self.assertEqual(seen[-1][1][1], 'text')
        with torch.autocast('cpu', dtype=torch.bfloat16):
            f(x)
            self.assertFalse(seen[-1][2])  # autocast off inside
            self.assertTrue(torch.is_autocast_enabled('cpu'))


if __name__ == '__main__':
    unittest.main()
