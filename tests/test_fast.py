import torch
from torch import nn

from conftest import tiny_model
from generator.models.fast import inference_model
from generator.models.load import NormalisedModel


def test_fast_path_equals_the_eager_model():
    model = NormalisedModel(tiny_model(), 255.0, 0.0, 1.0, "logits").eval()
    fast = inference_model(model)
    assert fast is not model
    x = torch.rand(13, 1, 48, 48)
    with torch.inference_mode():
        assert torch.allclose(fast(x), model(x), atol=1e-5)


class BakedBatch(nn.Module):
    """A model a tracer gets wrong: it reshapes with the batch size as a Python int."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(48 * 48, 7)

    def forward(self, x):
        return self.linear(x.reshape(int(x.shape[0]), -1))


def test_a_model_outside_the_fast_path_falls_back_with_a_notice():
    notices = []
    model = BakedBatch().eval()
    fast = inference_model(model, notices.append)
    assert fast is model and len(notices) == 1 and "using eager mode" in notices[0]
    x = torch.rand(3, 1, 48, 48)
    assert fast(x).shape == (3, 7)
