"""A trained run as files any ONNX runtime can use: `export` writes them (TensorFlow and onnx needed), `runtime`
runs them (onnxruntime and numpy only, never TensorFlow); `graphs` writes Keras layers as ONNX operators."""
