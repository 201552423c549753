"""Load pretrained weights from a local file (``model.weights=PATH``); nothing is ever downloaded.

Formats:
- Meta's official DINOv3 checkpoints (``.pth``/``.pt``), read with ``torch.load(weights_only=True)`` and converted to
  timm's names with timm's own ``eva.checkpoint_filter_fn`` (``storage_tokens`` -> ``reg_token``, ``ls1.gamma`` ->
  ``gamma_1``, ``qkv.bias`` split, ``rope``/``mask_token`` dropped, ...).
- timm or Hugging Face Hub timm ``.safetensors`` (already in timm's names; passed through the same filter).

Only plain tensor checkpoints load: a pickle that would run code is refused. Missing, unexpected and shape-mismatched
keys are listed in the error. Weights go into the dense backbone before the MoE upcycling, so every expert starts
from the pretrained MLP.
"""
from __future__ import annotations

import contextlib
import io
import pickle
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

StateDict = dict[str, torch.Tensor]
# Checkpoint keys we never expect the backbone to use (classifier heads: we build with num_classes=0).
IGNORED_PREFIXES = ("head.", "fc_norm.")


class WeightsError(ValueError):
    """A weight file that cannot be loaded into the model, with the reason and the file's path."""


def read_state_dict(path: str | Path) -> StateDict:
    """The tensors of a ``.safetensors`` or ``.pth``/``.pt``/``.bin`` file, on CPU."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"weight file not found: {path} (set model.weights= to a local file)")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as e:  # safetensors raises its own error types
            raise WeightsError(f"{path}: not a readable safetensors file ({e})") from e
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise WeightsError(
            f"{path}: refused to load: the checkpoint holds objects other than tensors and plain containers, and "
            f"unpickling them could execute code (torch.load(weights_only=True)). Re-save it as a plain state dict "
            f"or safetensors. Details: {str(e).splitlines()[0]}") from e
    except Exception as e:
        raise WeightsError(f"{path}: not a readable PyTorch checkpoint ({e})") from e
    for key in ("model_ema", "model", "module", "state_dict", "teacher"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path}: expected a dict of tensors (a state dict), got {type(obj).__name__}")
    return obj


def _strip_prefixes(sd: StateDict) -> StateDict:
    """Drop wrapper prefixes (DDP ``module.``, DINO ``teacher.backbone.``/``backbone.``) shared by every key."""
    for prefix in ("module.", "teacher.backbone.", "backbone."):
        if sd and all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
    return sd


def load_into(model: nn.Module, path: str | Path,
              convert: Callable[[StateDict, nn.Module], StateDict] | None = None) -> None:
    """Load the file at ``path`` into ``model`` strictly; raise ``WeightsError`` listing every key problem."""
    sd = _strip_prefixes(read_state_dict(path))
    if convert is not None:
        with contextlib.redirect_stdout(io.StringIO()):  # timm's filter prints expected skips
            sd = convert(sd, model)
    own = model.state_dict()
    sd = {k: v for k, v in sd.items() if not k.startswith(IGNORED_PREFIXES) or k in own}
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    mismatched = sorted(f"{k}: file {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
                        for k in set(sd) & set(own) if sd[k].shape != own[k].shape)
    if missing or unexpected or mismatched:
        lines = [f"{path}: weights do not fit the model ({type(model).__name__})"]
        for name, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched)):
            if keys:
                lines.append(f"  {name} ({len(keys)}): " + ", ".join(keys[:40]) + (" ..." if len(keys) > 40 else ""))
        raise WeightsError("\n".join(lines))
    model.load_state_dict(sd, strict=True)


def load_dinov3(vit: nn.Module, path: str | Path) -> None:
    """Load Meta DINOv3 ``.pth`` or timm/HF ``.safetensors`` weights into a timm DINOv3 (``Eva``) model."""
    from timm.models.eva import checkpoint_filter_fn

    load_into(vit, path, convert=checkpoint_filter_fn)
