"""Framework-free model runtime: sniffing, safety checks, conversion, validation, serving.

Nothing in this package imports Django. torch and transformers are imported only inside
the functions that convert models, so the web and inference processes never load them.
"""
