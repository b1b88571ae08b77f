"""Evaluate AASIST: `python eval.py [Hydra overrides]` (see conf/eval.yaml and the README's "Evaluation").

The same program as the `aasist-eval` console script: `aasist_lightning.cli.launch.evaluate` starts again
under mimalloc (see aasist_lightning.runtime.allocator), then runs `aasist_lightning.cli.evaluate.main`.
Examples:
`python eval.py` (the official AASIST-L weights on the embedded corpus), or
`python eval.py ckpt_path=outputs/train/runs/<time>/checkpoints/best.ckpt splits=[eval]`.
"""

from aasist_lightning.cli.launch import evaluate

if __name__ == "__main__":
    evaluate()
