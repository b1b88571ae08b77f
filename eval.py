"""Evaluate AASIST: `python eval.py [Hydra overrides]` (see conf/eval.yaml and the README's "Evaluation").

Examples: `python eval.py` (the official AASIST-L weights on the embedded corpus), or
`python eval.py ckpt_path=outputs/train/runs/<time>/checkpoints/best.ckpt splits=[eval]`.
"""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> float | None:
    from aasist_lightning.cli.evaluate import evaluate

    metrics = evaluate(cfg)
    # The value a sweeper would optimise: the EER of the last split evaluated.
    return metrics.get(f"{list(cfg.splits)[-1]}/eer")


if __name__ == "__main__":
    main()
