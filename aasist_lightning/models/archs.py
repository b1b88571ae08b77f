"""The official AASIST architectures (clovaai/aasist ``config/AASIST-L.conf`` and ``config/AASIST.conf``).

The training configs ``conf/model/aasist_l.yaml`` / ``aasist.yaml`` repeat these values as their defaults;
tests/test_model.py checks that the two agree.
"""

from __future__ import annotations

from typing import Any

#: The hyper-parameters that define the network (``AASIST.__init__``'s arguments).
ARCH_KEYS = ("nb_samp", "first_conv", "filts", "gat_dims", "pool_ratios", "temperatures", "freq_mask_width")

#: Official architecture name -> hyper-parameters; the name is also the weights file's stem (``<name>.pth``).
OFFICIAL_ARCHS: dict[str, dict[str, Any]] = {
    "AASIST-L": {
        "nb_samp": 64600,
        "first_conv": 128,
        "filts": [70, [1, 32], [32, 32], [32, 24], [24, 24]],
        "gat_dims": [24, 32],
        "pool_ratios": [0.4, 0.5, 0.7, 0.5],
        "temperatures": [2.0, 2.0, 100.0, 100.0],
        "freq_mask_width": 20,
    },
    "AASIST": {
        "nb_samp": 64600,
        "first_conv": 128,
        "filts": [70, [1, 32], [32, 32], [32, 64], [64, 64]],
        "gat_dims": [64, 32],
        "pool_ratios": [0.5, 0.7, 0.5, 0.5],
        "temperatures": [2.0, 2.0, 100.0, 100.0],
        "freq_mask_width": 20,
    },
}

__all__ = ["ARCH_KEYS", "OFFICIAL_ARCHS"]
