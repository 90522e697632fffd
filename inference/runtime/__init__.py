"""The framework-free pieces serving runs on: tensor codecs, signatures, the ONNX Runtime session
pool, batching, the isolated child, chat templates, tokenizers and the generation engine.

Nothing in this package imports Django, and nothing in it imports the conversion steps
(inference/conversion/steps/, plain Python too) or serving.
"""
