"""Runtime: hardware detection, the fast inference paths, the one ONNX export and session builder, the
allocator, the scorer used by evaluation and prediction, and attention maps."""
