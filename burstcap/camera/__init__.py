"""Camera access: one backend interface (:mod:`burstcap.camera.backend`) and its implementations."""
