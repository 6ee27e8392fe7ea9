"""Device runner, transports and checks (DESIGN.md section 6). Never imports torch."""
