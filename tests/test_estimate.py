"""The estimate said before a build's stages run: each stage's counts, the arithmetic, the cut it offers, when it is
said at all, and the progress bars' adapter. (How close the estimate comes to the real times is measured in
benchmarks/builds.py, not asserted here.)"""
import io

import pytest

from conftest import QUICK, ROOT, quick_tables, tiny_model
from generator.build import build
from generator.cli import LoopBars, build_progress
from generator.config import Settings, load_settings
from generator.estimate import (PREDICTIONS, Cost, Rates, best_cut, duration, estimate_lines, stage_seconds,
                                with_setting)
from generator.explain.methods import REGISTRY, total_passes
from generator.progress import Progress
from generator.questions import STAGES, q1, trust
from generator.stages import stage_module

ALL = list(STAGES)
Q4 = f"q4 {stage_module('q4').TITLE}"


def small_settings(**changes) -> Settings:
    """QUICK's settings (the tiny project's) plus a few more, so that every count below is small and distinct."""
    settings = Settings()
    for section, lines in quick_tables(QUICK).items():
        for line in lines:
            key, value = (part.strip() for part in line.split("="))
            settings = with_setting(settings, section, key, int(value))
    for dotted, value in {"filters.top": 3, "trust.random_orders": 1, "trust.pixels_per_step": 288,
                          **changes}.items():
        settings = with_setting(settings, *dotted.split("."), value)
    return settings


def test_each_stage_counts_its_passes_by_hand():
    """Two faces; the tiny CNN: conv 1->4, conv 4->8, then two Linear layers (4 weight layers)."""
    settings, model = small_settings(), tiny_model()
    costs = {name: stage_module(name).cost(settings, 2, model) for name in ALL}
    # q1: per face the declared gradient passes of its methods (saliency 1 + SmoothGrad 4 + IG 8 + Grad-CAM 1 +
    # Guided Backprop 1 + Guided Grad-CAM 2 = 17 with these settings); 3 + 1 + a panel per method per face. The
    # class averages: the same passes for the evaluation set, 10 faces for each of the 2 report faces' classes; per
    # class the mean face and a mean map per method
    shown = q1.shown(settings)
    passes = total_passes(shown, settings).gradient
    assert passes == sum(REGISTRY[m].passes(settings).gradient for m in shown) == 17
    assert costs["q1"] == Cost(gradient=(2 + 2 * 10) * passes, panels=2 * (4 + len(shown)) + 7 * (1 + len(shown)))
    # q2: the second conv's 8 filters x 10 steps; patterns 8 + outputs 8 + the top 3 twice
    assert costs["q2"] == Cost(ascent=80, panels=22)
    # q3: LIME's declared passes (100 samples + the face) per face; 3 panels per face and the confusion matrix
    assert REGISTRY["lime"].passes(settings).forward == 101
    assert costs["q3"] == Cost(forward=202, panels=7)
    # q4: occlusion's declared passes, stride 3 on 48 pixels: 16 x 16 positions per face
    assert costs["q4"] == Cost(occlusion_runs=2, occlusion_positions=512, panels=6)
    # trust, on 2 x 10 evaluation faces and the 2 report faces, the tiny CNN's 4 weight layers: q1's gradient
    # passes on the fully random model (20; q1 gives the trained model's) and after each layer on the report faces
    # (4 x 2); an occlusion run of 4 x 4 positions (stride 12) per evaluation face on both models (2 x 20), after
    # each layer on the report faces (4 x 2), and on the trained model there (2);
    # curves: ((the evaluated methods + 1 random order) x 20 faces + (LIME + 1 random order) x 2 faces) x 2 curves
    # x (2304 / 288 + 1 = 9); stability: 2 faces x 1 more seed x 101 = 202; panels: a sanity panel per evaluated
    # method + 2 + 2
    evaluated = len(trust.evaluated(settings))
    curves = ((evaluated + 1) * 20 + (1 + 1) * 2) * 2 * 9
    assert costs["trust"] == Cost(forward=curves + 202, gradient=passes * 28, occlusion_runs=50,
                                  occlusion_positions=800, panels=evaluated + 4)


def test_a_setting_changes_only_its_own_count():
    model = tiny_model()
    base = stage_module("trust").cost(small_settings(), 2, model)
    more = stage_module("trust").cost(small_settings(**{"trust.lime_seeds": 5}), 2, model)
    assert more.forward - base.forward == 2 * 3 * 101 and more.gradient == base.gradient


RATES = Rates(forward=0.001, gradient=0.004, ascent=0.0002, occlusion_runs=0.05, occlusion_positions=0.0005,
              panels=0.02)


def test_the_estimate_is_counts_times_seconds_per_pass():
    settings, model = small_settings(), tiny_model()
    seconds = stage_seconds(settings, model, RATES, ["q1", "q4"], 2, data_faces=100)
    assert list(seconds) == [PREDICTIONS, "q1 saliency and gradient methods", Q4]
    assert seconds[PREDICTIONS] == pytest.approx(100 * 0.001)
    q1_cost = stage_module("q1").cost(settings, 2, model)
    assert seconds["q1 saliency and gradient methods"] == pytest.approx(q1_cost.gradient * 0.004
                                                                        + q1_cost.panels * 0.02)
    assert seconds[Q4] == pytest.approx(2 * 0.05 + 512 * 0.0005 + 6 * 0.02)  # 0.476
    lines = estimate_lines(seconds, RATES, None)
    assert lines[1:] == ["~    0.1 s  validation predictions and image set",
                         f"~ {seconds['q1 saliency and gradient methods']:6.1f} s  q1 saliency and gradient methods",
                         f"~    0.5 s  {Q4}", f"{duration(sum(seconds.values()))} on this machine"]
    assert "1 ms forward, 4 ms with its input gradient" in lines[0]
    assert estimate_lines(seconds, RATES, ("trust.lime_seeds=3", 0.2))[-1] == (
        "about 3 s on this machine; --set trust.lime_seeds=3 brings it to about 1 s")


def test_durations_read_as_people_say_them():
    assert [duration(s) for s in (0.2, 40, 19 * 60, 9000)] == ["about 1 s", "about 40 s", "about 19 min",
                                                               "about 2.5 h"]


FORWARD_ONLY = Rates(forward=0.001, gradient=0, ascent=0, occlusion_runs=0, occlusion_positions=0, panels=0)


def test_the_cut_that_saves_most_is_offered():
    model, defaults = tiny_model(), Settings()
    # Default settings, forward passes alone: the trust page's 9 extra LIME runs per face dominate.
    cut, seconds = best_cut(defaults, model, FORWARD_ONLY, ALL, ALL, 7, data_faces=840)
    assert cut == "trust.lime_seeds=3"
    # predictions, q3, 2 extra seeds, the curves: the evaluated methods and 2 random orders on 70 evaluation faces,
    # LIME and 2 random orders on the 7 report faces, 2304 / 144 + 1 = 17 faces per curve
    evaluated = len(trust.evaluated(defaults))
    hand = 840 + 7 * 1001 + 7 * 2 * 1001 + ((evaluated + 2) * 70 + (1 + 2) * 7) * 2 * 17
    assert seconds == pytest.approx(hand * 0.001)
    # With 2 seeds already, occlusion at every pixel is the largest cost left when box positions are what is slow.
    positions_slow = Rates(forward=0.0001, gradient=0, ascent=0, occlusion_runs=0, occlusion_positions=0.001, panels=0)
    two_seeds = with_setting(defaults, "trust", "lime_seeds", 2)
    assert best_cut(two_seeds, model, positions_slow, ALL, ALL, 7)[0] == "occlusion.stride=2"


def test_a_cut_counts_the_cached_stages_it_would_recompute():
    """lime.num_samples is read by q3 and the trust page. With q3 cached, halving it saves trust's LIME runs but
    recomputes q3's: no saving, no offer. With both to compute, it saves more than a quarter."""
    settings = with_setting(with_setting(Settings(), "trust", "lime_seeds", 2), "trust", "faces_per_class", 1)
    model = tiny_model()
    assert best_cut(settings, model, FORWARD_ONLY, ["trust"], ALL, 7) is None
    cut, seconds = best_cut(settings, model, FORWARD_ONLY, ["q3", "trust"], ALL, 7)
    curves = ((len(trust.evaluated(settings)) + 2) * 7 + (1 + 2) * 7) * 2 * 17  # one evaluation face per class
    assert cut == "lime.num_samples=500" and seconds == pytest.approx((2 * 7 * 501 + curves) * 0.001)


def test_no_cut_is_offered_when_none_saves_enough():
    panels_only = Rates(forward=0, gradient=0, ascent=0, occlusion_runs=0, occlusion_positions=0, panels=0.1)
    assert best_cut(Settings(), tiny_model(), panels_only, ALL, ALL, 7) is None


def test_the_estimate_is_said_before_computing_and_never_when_everything_is_cached(tiny_project):
    def collect(lines):
        return Progress(lines.append)

    fewer_curves = {"trust.random_orders": 1, "trust.pixels_per_step": 288}  # these builds check lines, not scores
    settings = load_settings(tiny_project / "pyproject.toml", fewer_curves)
    said = []
    result = build(settings, ROOT / "templates", progress=collect(said))
    assert list(result["estimate"]) == [PREDICTIONS] + [f"{k} {stage_module(k).TITLE}".rstrip() for k in ALL]
    assert "on this machine" in said[said.index("validation predictions and image set...") - 1]
    said.clear()
    again = build(settings, ROOT / "templates", progress=collect(said))
    assert again["estimate"] == {} and "speed measurement" not in again["stages"]
    assert not any("on this machine" in line for line in said)
    changed = load_settings(tiny_project / "pyproject.toml", {**fewer_curves, "occlusion.box": 9})
    result = build(changed, ROOT / "templates", progress=collect(said))
    assert list(result["estimate"]) == [Q4, "trust"]  # only what the changed setting recomputes


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_bars_draw_on_a_terminal_and_stay_quiet_elsewhere(capsys):
    for stream, drawn in ((Terminal(), True), (io.StringIO(), False)):
        bars = LoopBars(stream)
        for done in range(8):
            bars("q3: LIME", done, 7)
        assert ("q3: LIME" in stream.getvalue() and "7/7" in stream.getvalue()) is drawn
        assert bool(stream.getvalue()) is drawn
    progress = build_progress()  # pytest's stdout is not a terminal: the plain lines of before
    for done in range(8):
        progress.count("q3: LIME", done, 7)
    assert capsys.readouterr().out == "".join(f"  q3: LIME {k}/7\n" for k in range(1, 8))
