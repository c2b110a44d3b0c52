# Demo STUDENT with a teacher-wide FPN: RetinaNet, ResNet-18 with 16 base
# channels (the demo student's backbone), FPN and head 64 ch like the demo
# teacher. Methods that run the teacher head on student features (DS2D2's
# implicit stream) need equal FPN widths, as the real pairs have (256 ch);
# this is their no-KD baseline.
# Child of the teacher config (not of the c16 student) to stay within three
# inheritance levels: the c16 backbone, FPN and head at the teacher's 64 ch.
_base_ = ['./retinanet_r18c32_fpn_12e_digits.py']
model = dict(
    backbone=dict(base_channels=16),
    neck=dict(in_channels=[16, 32, 64, 128]))
