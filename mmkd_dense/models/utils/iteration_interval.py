# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Run an expensive distillation loss on every k-th training call only."""

__all__ = ['IterationInterval']


class IterationInterval:
    """Decides on which calls an expensive loss is computed.

    With ``interval = k`` the loss is computed on calls ``o, o + k, o + 2k,
    ...`` (``o = offset``, 0 by default; giving two losses different offsets
    spreads their cost over the iterations) and
    multiplied by ``k`` there (so the KD gradient summed over ``k``
    iterations keeps the expected size of the every-iteration loss); on the
    other calls the caller returns 0 without running anything. ``k = 1``
    (the default everywhere) computes it on every call.

    The counter counts training calls of the owning loss (one per
    iteration, or per micro-batch under gradient accumulation), so every DDP
    rank skips the same iterations. It is not saved in checkpoints: a
    resumed run restarts the phase at 0, which only shifts which iterations
    compute the loss.

    Args:
        interval (int): ``k >= 1``.
        key (str): config key named in the error messages.
        offset (int): ``0 <= o < k``; the first computed call. Defaults to 0.
    """

    def __init__(self, interval: int, key: str = 'interval',
                 offset: int = 0) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int) \
                or interval < 1:
            raise ValueError(f'{key}={interval!r} must be an integer >= 1 '
                             '(1 = compute the loss on every iteration).')
        if isinstance(offset, bool) or not isinstance(offset, int) \
                or not 0 <= offset < interval:
            raise ValueError(f'{key}_offset={offset!r} must be an integer in '
                             f'[0, {interval - 1}] ({key}={interval}).')
        self.interval = interval
        self.offset = offset
        self.calls = 0

    def step(self, training: bool = True) -> float:
        """Register one call; return the loss scale for it.

        Args:
            training (bool): the owning module's ``training`` flag; calls in
                eval mode are always computed (scale 1) and not counted.

        Returns:
            float: 0.0 when the loss is skipped on this call, else the
            scale ``interval`` (1.0 when ``interval == 1``).
        """
        if self.interval == 1 or not training:
            return 1.0
        active = self.calls % self.interval == self.offset
        self.calls += 1
        return float(self.interval) if active else 0.0
