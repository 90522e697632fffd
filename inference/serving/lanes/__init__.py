"""The Redis lanes between the gateway and the inference workers (sync, async, generation) and
the replies that come back."""
