"""Evaluate AASIST: `python eval.py [Hydra overrides]` (see conf/eval.yaml and the README's "Evaluation").

The same application as the `aasist-eval` console script: `aasist_lightning.cli.evaluate.main`. Examples:
`python eval.py` (the official AASIST-L weights on the embedded corpus), or
`python eval.py ckpt_path=outputs/train/runs/<time>/checkpoints/best.ckpt splits=[eval]`.
"""

from aasist_lightning.cli.evaluate import main

if __name__ == "__main__":
    main()
