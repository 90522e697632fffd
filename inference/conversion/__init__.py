"""The conversion pipeline: a vendor's upload, scanned, converted, validated, optimized and
benchmarked, one Celery stage at a time (tasks.py, claims.py; stages.py for tensor models,
llm_stages.py for language models, runners.py choosing by kind).

The work itself is in steps/, plain Python that runs in a sandboxed child and imports no Django.
"""
