# CID + Light-ML on top of FGD (feature-level base method): GFL R101 -> GFL
# R18 (Light-ML head), UAVDT drone protocol. FGD runs on the 5 FPN levels
# with the CID weights as its foreground mask (M_fg = W, M_bg = 1[W=0]/#bg),
# plus L_CID on the head outputs:  L = L_det + L_FGD(CID masks) + L_CID.
# Same losses as cid-lightml-fgd_head-fpn_gfl-r101_gfl-r18_15e_visdrone.py
# (a test keeps the distillers equal).
#   1. python tools/train.py configs/detectors/gfl/gfl_r101_fpn_6e_uavdt.py
#   2. python tools/train.py {this config} --cfg-options \
#        model.teacher_ckpt=work_dirs/gfl_r101_fpn_6e_uavdt/epoch_6.pth
_base_ = ['./cid-lightml_head_gfl-r101_gfl-r18_6e_uavdt.py']

# FGD GFL defaults (alpha, beta, gamma, lambda) = (1e-3, 5e-4, 5e-4, 5e-6)
fgd_loss = dict(
    type='mmkd_dense.FGDLoss', student_channels=256, teacher_channels=256,
    temp=0.5, alpha_fgd=0.001, beta_fgd=0.0005, gamma_fgd=0.0005,
    lambda_fgd=5e-06)
cid_fgd_loss = dict(
    type='mmkd_dense.CIDWeightedFeatureLoss', loss=fgd_loss, mode='mask',
    norm='instance')

model = dict(
    distiller=dict(
        student_recorders=dict(
            fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses={
            f'loss_cid_fgd_fpn{i}': cid_fgd_loss
            for i in range(5)
        },
        loss_forward_mappings={
            f'loss_cid_fgd_fpn{i}': dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=i),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=i))
            for i in range(5)
        }))
