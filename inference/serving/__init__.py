"""What answers buyers. The buyer APIs (v2/, v1/, predictions/) call the gateway steps
(gateway.py: key, model, entitlement, quota, receipt); the gateway hands a call to dispatch.py,
which puts it on a lane (lanes/); the worker side (workers/) serves it and knows nothing of the
APIs. .importlinter keeps that direction.
"""
