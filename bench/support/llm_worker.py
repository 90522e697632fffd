"""The inference worker as bench/serving.py starts it, with one known defect worked around.

The generation lane (inference/serving/generation.py) marks each request as running in the crash
watch's hash but never adds its id to the worker's ``state().active`` set, the one the sync lane
fills (inference/serving/tasks.py). So the worker's own sweep (quarantine.sweep) takes any
generation running longer than ORPHAN_GRACE_SECONDS (10 s) for an orphan and pushes a 503
"worker_died" to the head of its output list: the stream ends with that error mid-generation.
bench/generation.py's 16-stream rounds run longer than 10 s on 2 cores, so unless it is run with
--unpatched it starts the worker through this module, which only lengthens that grace.

Run: python -m bench.support.llm_worker -A config worker ...   (celery's own arguments)
"""

from __future__ import annotations

import sys

import django

GRACE_SECONDS = 3600.0

if __name__ == "__main__":
    django.setup()
    from celery.__main__ import main

    from inference.serving import quarantine

    quarantine.ORPHAN_GRACE_SECONDS = GRACE_SECONDS
    sys.argv[0] = "celery"
    sys.exit(main())
