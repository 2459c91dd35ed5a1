import pytest

from generator.config import Settings, load_settings, parse_override
from generator.errors import InputError


def _write(tmp_path, body: str):
    path = tmp_path / "pyproject.toml"
    path.write_text("[project]\nname = 'x'\n\n" + body, encoding="utf-8")
    return path


def test_empty_table_gives_every_default(tmp_path):
    settings = load_settings(_write(tmp_path, "[tool.generator]\n"))
    assert settings.model == Settings().model and settings.images.indices == [] and settings.seed == 0
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
    ("[tool.generator.images]\nindices = [1, 'a']", "indices = [1, 'a']: expected a list of int"),
    ("[tool.generator]\nmodel = 3", "[tool.generator].model: expected a table, found 3"),
    ("[tool.generator\n", "pyproject.toml: not valid TOML"),
    ("[tool.generator.data]\nvalidation_fraction = 1.0", "validation_fraction = 1.0: expected a number between 0.0 and 1.0"),
    ("[tool.generator.occlusion]\nfill = 255", "fill = 255.0: expected a number <= 1.0"),
    ("[tool.generator.filters]\nlr = nan", "lr = nan: expected a finite number"),
    ("[tool.generator.filters]\nsteps = 0", "steps = 0: expected an integer >= 1"),
    ("[tool.generator]\nsite_dir = ''", "site_dir = '': expected a non-empty string"),
])
def test_bad_settings_rejected_with_key_value_and_expectation(tmp_path, body, message):
    with pytest.raises(InputError) as error:
        load_settings(_write(tmp_path, body))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


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
