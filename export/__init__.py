"""Writers of deployable artifacts: ONNX (+ .ort) and TFLite, with manifests (DESIGN.md 5)."""
