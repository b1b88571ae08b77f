"""Train AASIST: `python train.py [Hydra overrides]` (see conf/train.yaml and the README's "Training").

The same application as the `aasist-train` console script: `aasist_lightning.cli.train.main`.
"""

from aasist_lightning.cli.train import main

if __name__ == "__main__":
    main()
