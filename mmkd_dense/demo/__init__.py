# Copyright (c) mmkd_dense contributors. All rights reserved.
from .digits import DIGIT_CLASSES, generate_digits_dataset

__all__ = ['DIGIT_CLASSES', 'generate_digits_dataset']
