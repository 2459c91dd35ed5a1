import pytest

from generator.config import Settings, as_table, load_settings, parse_override
from generator.errors import InputError


def _write(tmp_path, body: str):
    path = tmp_path / "pyproject.toml"
    path.write_text("[project]\nname = 'x'\n\n" + body, encoding="utf-8")
    return path


def test_empty_table_gives_every_default(tmp_path):
    settings = load_settings(_write(tmp_path, "[tool.generator]\n"))
    assert settings.model == Settings().model and settings.images.indices == [] and settings.seed == 0
    assert settings.trust.imputation == "road"
    assert settings.root == tmp_path.resolve()
    assert load_settings(_write(tmp_path, "")).data.csv == ""  # no table at all is fine too


def test_values_are_read_and_ints_accepted_as_floats(tmp_path):
    settings = load_settings(_write(tmp_path, """
[tool.generator]
seed = 3
[tool.generator.author]
name = "王小明"
[tool.generator.model]
input_scale = 1
output = "probabilities"
kwargs = {blocks = [[8, 64]]}
[tool.generator.images]
indices = [1, 2, 3, 4, 5, 6, 7]
"""))
    assert settings.seed == 3 and settings.author.name == "王小明"
    assert settings.model.input_scale == 1.0 and isinstance(settings.model.input_scale, float)
    assert settings.model.kwargs == {"blocks": [[8, 64]]} and settings.images.indices == [1, 2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize("body,message", [
    ("[tool.generator]\nsede = 1", "pyproject.toml [tool.generator]: unknown key 'sede' (did you mean 'seed'?)"),
    ("[tool.generator.model]\nwieghts = 'a.pt'", "[tool.generator].model: unknown key 'wieghts'"),
    ("[tool.generator]\nseed = 'one'", "[tool.generator]: seed = 'one': expected an integer"),
    ("[tool.generator]\nseed = true", "seed = True: expected an integer"),
    ("[tool.generator.model]\noutput = 'softmax'", "output = 'softmax': expected one of logits, probabilities"),
    ("[tool.generator.images]\nindices = [1, 2.5]", "indices = [1, 2.5]: expected a list of int or str"),
    ("[tool.generator.filters]\nimage_row = true", "image_row = True: expected an integer or a string"),
    ("[tool.generator.data]\ncsv = 'a.csv'\nfolder = 'fer2013'", "both csv = 'a.csv' and folder = 'fer2013' are set, expected one of them"),
    ("[tool.generator.data.class_folders]\nSurprirse = 'surprize'", "'Surprirse' = 'surprize': expected one of angry, disgust, fear, happy, sad, surprise, neutral or contempt"),
    ("[tool.generator]\nmodel = 3", "[tool.generator].model: expected a table, found 3"),
    ("[tool.generator\n", "pyproject.toml: not valid TOML"),
    ("[tool.generator.data]\nvalidation_fraction = 1.0", "validation_fraction = 1.0: expected a number between 0.0 and 1.0"),
    ("[tool.generator.occlusion]\nfill = 255", "fill = 255.0: expected a number <= 1.0"),
    ("[tool.generator.filters]\nlr = nan", "lr = nan: expected a finite number"),
    ("[tool.generator.filters]\nsteps = 0", "steps = 0: expected an integer >= 1"),
    ("[tool.generator]\nsite_dir = ''", "site_dir = '': expected a non-empty string"),
    ("[tool.generator.model]\ninput_channels = 2", "input_channels = 2: expected one of 1, 3"),
    ("[tool.generator.model]\ninput_size = 7", "input_size = 7: expected an integer from 8 to 512, or [height, "
                                               "width] of such integers"),
    ("[tool.generator.model]\ninput_size = 513", "input_size = 513: expected an integer from 8"),
    ("[tool.generator.model]\ninput_size = [64]", "input_size = [64]: expected an integer from 8"),
    ("[tool.generator.model]\ninput_size = 64.0", "input_size = 64.0: expected an integer from 8"),
    ("[tool.generator.model]\nresize = 'crop'", "resize = 'crop': expected one of bilinear, center-crop, pad"),
    ("[tool.generator.trust]\nimputation = 'blur'", "[tool.generator].trust: imputation = 'blur': expected one "
                                                    "of road, mean"),
    ("[tool.generator.model]\nresize = 'center-crop'\ninput_size = [44, 49]",
     "[tool.generator].model: resize = 'center-crop' with input_size = [44, 49]: expected a size of at most 48"),
    ("[tool.generator.model]\nresize = 'pad'\ninput_size = [47, 64]",
     "[tool.generator].model: resize = 'pad' with input_size = [47, 64]: expected a size of at least 48"),
])
def test_bad_settings_rejected_with_key_value_and_expectation(tmp_path, body, message):
    with pytest.raises(InputError) as error:
        load_settings(_write(tmp_path, body))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_input_geometry_is_read_as_given(tmp_path):
    settings = load_settings(_write(tmp_path, "[tool.generator.model]\ninput_size = [44, 40]\ninput_channels = 3\n"
                                              "resize = 'center-crop'\n"))
    assert (settings.model.input_size, settings.model.input_channels, settings.model.resize) == (
        [44, 40], 3, "center-crop")
    defaults = as_table(load_settings(_write(tmp_path, "")))["model"]
    assert (defaults["input_size"], defaults["input_channels"], defaults["resize"]) == (48, 1, "bilinear")
    # a pair is checked once the command line has spoken: the flag that made it wrong is named
    with pytest.raises(InputError, match="^--set model.resize: resize = 'pad' with input_size = 32"):
        load_settings(_write(tmp_path, "[tool.generator.model]\ninput_size = 32\n"),
                      dict([parse_override("model.resize=pad")]))
    assert load_settings(_write(tmp_path, "[tool.generator.model]\ninput_size = 32\n"),
                         dict([parse_override("model.resize=center-crop")])).model.resize == "center-crop"


def test_cli_overrides_beat_the_file_and_are_validated(tmp_path):
    path = _write(tmp_path, "[tool.generator.model]\noutput = 'logits'\n")
    overrides = dict([parse_override('model.output="probabilities"'), parse_override("images.min_confidence=0.8"),
                      parse_override("data.csv=faces.csv")])
    settings = load_settings(path, overrides)
    assert settings.model.output == "probabilities" and settings.images.min_confidence == 0.8
    assert settings.data.csv == "faces.csv"
    with pytest.raises(InputError, match="min_confidence = 'high': expected a number"):
        load_settings(path, dict([parse_override("images.min_confidence=high")]))
    with pytest.raises(InputError, match="expected section.key=value"):
        parse_override("nonsense")


def test_missing_settings_file(tmp_path):
    with pytest.raises(InputError, match="settings file not found"):
        load_settings(tmp_path / "nope.toml")
