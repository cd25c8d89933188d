"""The fuzzing budget the device issue sets: every codec sees at least 10,000 generated inputs."""

from hypothesis import HealthCheck, settings

CODEC_FUZZ = settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
