"""Entry points: train, evaluate, predict, export, score and synth. Each parses arguments (or composes the
Hydra config), calls one function of the layers below and turns their errors into short messages."""
