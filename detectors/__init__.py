"""Vision: frames from cameras -> persons per zone, camera health, evidence."""
