"""How artifacts are stored, loaded and run: dense and sparse torch, torch int8, ONNX."""
