"""int8 schemes: calibration, post-training (dynamic, static) and quantization-aware training, and a
NumPy int8 reference (DESIGN.md section 4)."""
