"""casewatch: monitoring for police case-handling centres (执法办案管理中心).

This package is the top of the layers: the ``casewatch`` command line and the demo centre;
nothing of the product imports it (tests/test_layers.py). The wire contract is ``protocol``, what
both sides stand on ``foundation``, the edge ``agent``, ``detectors`` and ``devices``, the centre
``hub``.
"""

from foundation import __version__

__all__ = ["__version__"]
