"""Design spaces as pure functions of the expression language.

`regnet(w_0, w_a, w_m, depth, group_width, bottleneck=1.0)` is RegNet's
(Radosavovic et al., "Designing Network Design Spaces", arXiv:2003.13678):
block widths grow linearly, u_j = w_0 + w_a * j, and are quantised in log space
to w_0 * w_m^round(log(u_j / w_0) / log(w_m)), then to multiples of 8; blocks of
one width form a stage. Widths are then made compatible with the group width
(torchvision's BlockParams.from_init_params and _adjust_widths_groups_compatibilty,
pycls's generate_regnet and adjust_ws_gs_comp). Returns
[stage widths, stage depths, stage group widths].
"""

from __future__ import annotations

import math

QUANT = 8


def make_divisible(value: float, divisor: int, min_value: int | None = None) -> int:
    """torchvision.models._utils._make_divisible (from TF's MobileNet): `value` rounded
    to the nearest multiple of `divisor`, at least `min_value` (default `divisor`), and
    never more than 10% below `value`."""
    new = max(divisor if min_value is None else min_value,
              int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new  # rounding down removed > 10%


def regnet(w_0, w_a, w_m, depth, group_width, bottleneck=1.0) -> tuple:
    for name, value in (("w_0", w_0), ("w_a", w_a), ("w_m", w_m), ("depth", depth),
                        ("group_width", group_width), ("bottleneck", bottleneck)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"regnet(): `{name}` is a number")
    if not (isinstance(depth, int) and 0 < depth <= 10_000):
        raise ValueError("regnet(): depth is an int from 1 to 10000")
    if w_a < 0 or w_0 <= 0 or w_m <= 1 or w_0 % QUANT or group_width < 1 or bottleneck <= 0:
        raise ValueError("regnet(): needs w_a >= 0, w_0 > 0 a multiple of 8, w_m > 1, "
                         "group_width >= 1, bottleneck > 0")
    widths = []
    for j in range(depth):
        capacity = round(math.log((j * w_a + w_0) / w_0) / math.log(w_m))
        widths.append(int(round(w_0 * w_m**capacity / QUANT) * QUANT))
    stage_widths, stage_depths = [], []
    for width in widths:
        if stage_widths and stage_widths[-1] == width:
            stage_depths[-1] += 1
        else:
            stage_widths.append(width)
            stage_depths.append(1)
    inner = [int(w * bottleneck) for w in stage_widths]
    groups = [min(group_width, w) for w in inner]
    inner = [make_divisible(w, g) for w, g in zip(inner, groups)]
    stage_widths = [int(w / bottleneck) for w in inner]
    return tuple(stage_widths), tuple(stage_depths), tuple(groups)
