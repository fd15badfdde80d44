"""The pack's engine: everything that is not ComfyUI-specific.

Operation specs, HTTP transport, the job runner, image codecs, credentials,
errors, the built-in emulator and the CLI.  Nothing here imports torch or any
ComfyUI module, so it runs (and is tested) anywhere.
"""
