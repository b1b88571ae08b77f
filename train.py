"""Train AASIST: `python train.py [Hydra overrides]` (see conf/train.yaml and the README's "Training").

The same program as the `aasist-train` console script: `aasist_lightning.cli.launch.train` starts again under
mimalloc (see aasist_lightning.runtime.allocator), then runs `aasist_lightning.cli.train.main`.
"""

from aasist_lightning.cli.launch import train

if __name__ == "__main__":
    train()
