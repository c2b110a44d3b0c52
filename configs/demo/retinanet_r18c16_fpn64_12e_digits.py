# Demo STUDENT with a teacher-wide FPN: RetinaNet, ResNet-18 with 16 base
# channels (the demo student's backbone), FPN and head 64 ch like the demo
# teacher. Methods that run the teacher head on student features (DS2D2's
# implicit stream) need equal FPN widths, as the real pairs have (256 ch);
# this is their no-KD baseline.
_base_ = ['./retinanet_r18c16_fpn_12e_digits.py']
model = dict(
    neck=dict(out_channels=64),
    bbox_head=dict(in_channels=64, feat_channels=64))
