# Copyright (c) mmkd_dense contributors. All rights reserved.
