# Copyright (c) mmkd_dense contributors. All rights reserved.
__all__: list = []
