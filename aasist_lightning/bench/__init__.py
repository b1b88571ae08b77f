"""Benchmarks of the fast inference and training paths (``python -m aasist_lightning.bench``, ``make bench``).

- :mod:`~aasist_lightning.bench.cli`: the command (options, the run, its table and JSON);
- :mod:`~aasist_lightning.bench.workload`: the models, inputs and path names benchmarked;
- :mod:`~aasist_lightning.bench.measure`: timing, memory, and which runs the free memory admits;
- :mod:`~aasist_lightning.bench.inference` / :mod:`~aasist_lightning.bench.training`: speed of each path;
- :mod:`~aasist_lightning.bench.accuracy`: loss curves and the EER check;
- :mod:`~aasist_lightning.bench.flops`: GFLOP per utterance;
- :mod:`~aasist_lightning.bench.report`: the table and the JSON file;
- :mod:`~aasist_lightning.bench.loader`: data-loading throughput
  (``python -m aasist_lightning.bench.loader``);
- :mod:`~aasist_lightning.bench.shortcut`: whether trivial features separate the synthetic corpus's classes.
"""
