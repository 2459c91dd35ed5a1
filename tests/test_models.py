from pathlib import Path

import pytest
import torch

from conftest import TINY_KWARGS, tiny_model
from generator.config import ModelSettings
from generator.errors import InputError
from generator.models.load import NormalisedModel, conv_layers, load_model

ARCH = "generator.models.cnn:FerCNN"


def _same_outputs(loaded, reference, scale=255.0):
    x = torch.rand(3, 1, 48, 48)
    with torch.inference_mode():
        ours, theirs = loaded.model(x), reference(x * 255.0 / scale)
        assert torch.allclose(ours.to(theirs.dtype), theirs, atol=1e-6)


def test_state_dict_with_architecture(tmp_path, model):
    torch.save(model.state_dict(), tmp_path / "w.pt")
    loaded = load_model(ModelSettings(path="w.pt", architecture=ARCH, kwargs=TINY_KWARGS), tmp_path)
    assert loaded.description == f"state_dict + {ARCH}"
    _same_outputs(loaded, model)
    # It computes in float64 (generator/models/load.py): faces come in as float32, scores go out as float64.
    assert {p.dtype for p in loaded.model.parameters()} == {torch.float64}
    assert loaded.model(torch.rand(2, 1, 48, 48)).dtype == torch.float64


@pytest.mark.parametrize("key", ["state_dict", "model", "network"])
def test_checkpoint_dict_under_known_key(tmp_path, model, key):
    torch.save({key: model.state_dict(), "epoch": 12, "optimizer": {"lr": 0.1}}, tmp_path / "c.pt")
    loaded = load_model(ModelSettings(path="c.pt", architecture=ARCH, kwargs=TINY_KWARGS), tmp_path)
    assert f"key '{key}'" in loaded.description
    _same_outputs(loaded, model)


def test_checkpoint_dict_under_configured_key(tmp_path, model):
    torch.save({"ema_weights": model.state_dict(), "step": 3}, tmp_path / "c.pt")
    settings = ModelSettings(path="c.pt", architecture=ARCH, kwargs=TINY_KWARGS, state_dict_key="ema_weights")
    _same_outputs(load_model(settings, tmp_path), model)
    with pytest.raises(InputError, match="no state_dict under 'state_dict', 'model'.*its keys: ema_weights, step"):
        load_model(ModelSettings(path="c.pt", architecture=ARCH, kwargs=TINY_KWARGS), tmp_path)


def test_whole_pickled_module(tmp_path, model):
    torch.save(model, tmp_path / "m.pt")
    loaded = load_model(ModelSettings(path="m.pt"), tmp_path)
    assert loaded.description == "pickled module"
    _same_outputs(loaded, model)


def test_torchscript(tmp_path, model):
    torch.jit.script(model).save(str(tmp_path / "s.pt"))
    loaded = load_model(ModelSettings(path="s.pt"), tmp_path)
    assert loaded.description == "TorchScript"
    _same_outputs(loaded, model)


def test_bundled_demo_checkpoint_is_self_describing():
    loaded = load_model(ModelSettings(), root=Path("."))
    assert "generator.models.cnn:FerCNN" in loaded.description
    names = [name for name, _, _ in conv_layers(loaded.model)]
    second = conv_layers(loaded.model)[1]
    assert second[1].out_channels == 64 and second[2] == (64, 48, 48), names


def test_normalisation_and_probability_output():
    inner = tiny_model()
    probs = torch.nn.Sequential(inner, torch.nn.Softmax(dim=1))
    wrapped = NormalisedModel(probs, scale=1.0, mean=128.0, std=64.0, output="probabilities")
    x = torch.rand(2, 1, 48, 48)
    with torch.inference_mode():
        expected = torch.softmax(inner((x * 255 - 128) / 64), dim=1)
        assert torch.allclose(torch.softmax(wrapped(x), dim=1), expected, atol=1e-6)


def test_weights_for_another_architecture_list_the_keys(tmp_path, model):
    torch.save(model.state_dict(), tmp_path / "w.pt")
    with pytest.raises(InputError, match=r"w.pt: the weights do not fit generator.models.cnn:FerCNN\(blocks=\[\[4, 8\], "
                                         r"\[8\]\], hidden=8\): 6 missing: features.7.weight, features.8.weight, "
                                         r"features.8.bias, features.8.running_mean and 2 more; 1 wrong shape: "
                                         r"classifier.2.weight \(8, 4608\) in the file, \(8, 1152\) in the model "
                                         r"\(check model.architecture and model.kwargs\)$"):
        load_model(ModelSettings(path="w.pt", architecture=ARCH, kwargs={"blocks": [[4, 8], [8]], "hidden": 8}),
                   tmp_path)


def test_model_errors_name_the_problem(tmp_path, model):
    with pytest.raises(InputError, match="model file not found"):
        load_model(ModelSettings(path="missing.pt"), tmp_path)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    with pytest.raises(InputError, match="holds only weights; set model.architecture"):
        load_model(ModelSettings(path="w.pt"), tmp_path)
    with pytest.raises(InputError, match="expected 'package.module:Class'"):
        load_model(ModelSettings(path="w.pt", architecture="generator.models.cnn.FerCNN"), tmp_path)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="junk.pt: not a PyTorch checkpoint"):
        load_model(ModelSettings(path="junk.pt"), tmp_path)


def test_conv_layers_in_forward_order(model):
    layers = conv_layers(NormalisedModel(model, 255.0, 0.0, 1.0, "logits"))
    assert [(name, shape) for name, _, shape in layers] == [
        ("features.0", (4, 48, 48)), ("features.3", (8, 48, 48))]


def test_layers_command_lists_the_demo_convs(tmp_path, capsys):
    from generator.cli import main
    (tmp_path / "pyproject.toml").write_text("[tool.generator]\n")
    assert main(["layers", "--config", str(tmp_path / "pyproject.toml")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Conv layers of demo_cnn.pt")
    assert lines[2].split() == ["1", "features.3", "16", "->", "64", "out", "(64,", "48,", "48)"]
    assert len(lines) == 5  # four convs


def test_probabilities_that_do_not_sum_to_one_are_refused(tmp_path, model):
    torch.save(model, tmp_path / "m.pt")  # logits, but the settings say probabilities
    with pytest.raises(InputError, match=r"m.pt: model.output = 'probabilities', but the outputs of a face sum to "
                                         r".*, expected 1; set model.output = 'logits'"):
        load_model(ModelSettings(path="m.pt", output="probabilities"), tmp_path)
    softmax = torch.nn.Sequential(model, torch.nn.Softmax(dim=1))
    torch.save(softmax, tmp_path / "p.pt")
    load_model(ModelSettings(path="p.pt", output="probabilities"), tmp_path)  # a real softmax passes


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_device_cuda_without_a_gpu_is_an_input_error():
    with pytest.raises(InputError, match=r"^--device cuda: no CUDA device is available to torch .* use --device cpu$"):
        load_model(ModelSettings(), Path("."), device="cuda")
