"""The conversion steps: plain Python, no Django, most of them run in the sandbox child
(sandbox.py). Sniffing (formats), safety checks (safety, onnx_safety), export and conversion
(convert, hf_export), validation and parity (validate), optimization (optimize), benchmarks
(profile); pipeline_steps.py is the tensor model's steps, llm_steps.py the language model's
(llm_detect, llm_build, llm_parity, llm_card). torch and transformers are imported only inside
the functions that convert, so the web and inference processes never load them.
"""
