import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile("thorough", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# The suite tests the NumPy reference wherever a test does not name a backend (each kernel is tested
# against it under its own name; tests/backend/test_backend.py tests the default without this);
# set here, before any model is made, and inherited by the command-line tests' subprocesses.
os.environ["MINIREASON_BACKEND"] = "numpy"
