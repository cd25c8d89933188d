"""The rule engine: YAML rules over facts in event time, with staged five-colour levels."""
