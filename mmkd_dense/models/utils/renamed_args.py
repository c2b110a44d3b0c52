# Copyright (c) mmkd_dense contributors. All rights reserved.
"""A readable error for a constructor argument that was renamed.

Argument names follow one scheme (``docs/adding_a_method.md``, "Naming").
Renamed arguments have no deprecated aliases; a config that still sets an old
name fails at build time with a ``TypeError`` that names the new key instead
of Python's bare "unexpected keyword argument".
"""
import functools
from typing import Callable, Type, TypeVar

__all__ = ['renamed_args']

_Cls = TypeVar('_Cls', bound=type)


def renamed_args(**old_to_new: str) -> Callable[[_Cls], _Cls]:
    """Class decorator: reject renamed ``__init__`` keywords by name.

    Example::

        @MODELS.register_module()
        @renamed_args(temp='temperature')
        class FGDLoss(nn.Module):
            def __init__(self, ..., temperature=0.5): ...

        FGDLoss(..., temp=0.5)
        # TypeError: FGDLoss: "temp" was renamed to "temperature"

    The signature seen by ``inspect.signature`` is the original one.

    Args:
        **old_to_new (str): old keyword -> new keyword.

    Returns:
        Callable: the decorator (returns the same class).
    """

    def decorate(cls: _Cls) -> _Cls:
        init = cls.__init__

        @functools.wraps(init)
        def __init__(self, *args, **kwargs):
            old = [k for k in kwargs if k in old_to_new]
            if old:
                raise TypeError('; '.join(
                    f'{cls.__name__}: "{k}" was renamed to '
                    f'"{old_to_new[k]}"' for k in old))
            init(self, *args, **kwargs)

        cls.__init__ = __init__
        cls._renamed_args = dict(
            getattr(cls, '_renamed_args', {}), **old_to_new)
        return cls

    return decorate
