"""casewatch: monitoring for police case-handling centres (执法办案管理中心).

This package is the application shell: the ``casewatch`` command line, configuration loading and
the demo. The wire contract lives in ``protocol``; the edge in ``agent``, ``detectors`` and
``devices``; the centre in ``hub``.
"""

__version__ = "0.1.0"
