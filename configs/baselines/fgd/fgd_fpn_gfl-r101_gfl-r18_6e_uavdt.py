# FGD (Focal and Global KD, CVPR 2022) baseline: GFL R101 -> GFL R18, UAVDT
# drone protocol (1024x540, RepeatDataset x5, 6 epochs, steps 4/5, lr 0.01,
# grad-clip 10, 500 dets; metric uavdt/AP70 and uavdt/AP). The reference
# for configs/cid_lightml/*_6e_uavdt.py (same pair, plain GFL R18 student).
# FGD settings as fgd_fpn_gfl-r101_gfl-r50_1x_coco.py (GFL defaults).
#   1. python tools/train.py configs/detectors/gfl/gfl_r101_fpn_6e_uavdt.py
#   2. python tools/train.py {this config} --cfg-options \
#        model.teacher_ckpt=work_dirs/gfl_r101_fpn_6e_uavdt/epoch_6.pth
_base_ = ['../../detectors/gfl/gfl_r18_fpn_6e_uavdt.py']

teacher_ckpt = 'work_dirs/gfl_r101_fpn_6e_uavdt/epoch_6.pth'
# FGD GFL defaults (alpha, beta, gamma, lambda) = (1e-3, 5e-4, 5e-4, 5e-6)
fgd_loss = dict(
    type='mmkd_dense.FGDLoss', student_channels=256, teacher_channels=256,
    temp=0.5, alpha_fgd=0.001, beta_fgd=0.0005, gamma_fgd=0.0005,
    lambda_fgd=5e-06)

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/detectors/gfl/gfl_r101_fpn_6e_uavdt.py'),
    teacher_ckpt=teacher_ckpt,
    teacher_forward='feat',
    distiller=dict(
        type='mmkd_dense.GTAwareDistiller',
        student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses={f'loss_fgd_fpn{i}': fgd_loss for i in range(5)},
        loss_forward_mappings={
            f'loss_fgd_fpn{i}': dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=i),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=i))
            for i in range(5)
        }))

find_unused_parameters = True
# validates the student, then the teacher (logged as teacher.uavdt/...)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
