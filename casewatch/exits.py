"""Exit codes of every ``casewatch`` command: 0 done, 1 failed, 2 bad usage or configuration,
3 not available in this version."""

EXIT_FAILED, EXIT_CONFIG, EXIT_UNAVAILABLE = 1, 2, 3
