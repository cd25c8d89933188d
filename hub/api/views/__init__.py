"""Response models of the HTTP API: what each route answers, built on the domain (``hub.domain``).

Routes declare these (``response_model=`` or their return type), so ``/api/v1/openapi.json``
describes every answer; tests/test_api_schema.py fails on a route that does not. Like the domain
models they keep fields they do not name (``extra="allow"``), and routes answer with
``response_model_exclude_unset=True``: a field the answer lacks stays out, never ``null``.
"""
