"""What stands in for hardware in the demo, the scenarios and the tests: a drawn room for the
cameras, wristband receivers and a dossier cabinet on pseudo-terminals. Nothing of the product
imports this package; the CLI registers the drawn camera as a camera source plugin."""
