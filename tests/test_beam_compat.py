"""The converter's uses of Beam internals (pipeline/beam_compat.py): each
is still there in the shape relied on, still takes effect, and still leaves
Beam's answers as they were. A failure here after a Beam upgrade names the
internal that changed, in one line."""

import argparse
import inspect
import pickle

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.options.pipeline_options import S3Options
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.runners.worker import statesampler
from apache_beam.transforms import userstate
from apache_beam.transforms.core import CallableWrapperDoFn

from pipeline import beam_compat
from pipeline.convert.options import ConvertOptions
from tests.beam_util import local_pipeline


def _changed(what, use):
    return f"Beam changed {what}: pipeline/beam_compat.py's {use} relies on it"


# What each use relies on, in the shape relied on.


def test_the_internals_relied_on_are_there():
    from apache_beam.runners.portability import fn_api_runner

    assert hasattr(fn_api_runner, "FnApiRunner"), _changed("fn_api_runner.FnApiRunner", "local_runner")
    assert list(inspect.signature(userstate.get_dofn_specs).parameters) == ["dofn"], _changed(
        "userstate.get_dofn_specs(dofn)", "dofn_specs_remembered"
    )
    assert "sampling_period_ms" in inspect.signature(statesampler.StateSampler).parameters, _changed(
        "StateSampler(sampling_period_ms)", "prompt_bundle_ends"
    )
    assert inspect.ismethod(getattr(PipelineOptions, "_add_argparse_args", None)), _changed(
        "PipelineOptions._add_argparse_args", "add_option_flags"
    )
    classes = beam_compat.option_classes()
    assert StandardOptions in classes and S3Options in classes, _changed(
        "its option classes (no longer direct PipelineOptions subclasses)", "option_classes"
    )


def test_options_flags_go_to_one_parser_and_views_share_their_values():
    parser = argparse.ArgumentParser()
    beam_compat.add_option_flags(parser.add_argument_group("ours"), ConvertOptions)
    beam_compat.add_option_flags(parser.add_argument_group("Beam's"), StandardOptions)
    known, unknown = parser.parse_known_args(["--input", "in", "--output", "out", "--runner", "FlinkRunner"])
    assert (known.input, known.runner, unknown) == ("in", "FlinkRunner", []), _changed(
        "_add_argparse_args's groups", "add_option_flags"
    )
    options = beam_compat.ViewsOnce(["--input", "in", "--output", "out", "--runner", "FlinkRunner"])
    assert options.view_as(StandardOptions) is options.view_as(StandardOptions)  # Made once.
    options.view_as(StandardOptions).runner = "SparkRunner"
    assert options.get_all_options()["runner"] == "SparkRunner", _changed(
        "how views share one dict of values", "ViewsOnce"
    )
    assert beam_compat.ViewsOnce(["--input", "in"]).view_as(ConvertOptions).input == "in"


_BAG = userstate.BagStateSpec("seen", beam.coders.StrUtf8Coder())
_SEEN = beam.DoFn.StateParam(_BAG)  # The parameter default that makes a DoFn stateful.


class _Periods(beam.DoFn):
    """Each element -> the sampling period of the state sampler timing it."""

    def process(self, element):
        yield statesampler.get_current_tracker().sampling_period_ms


def _sampling_periods():
    with local_pipeline() as p:
        periods = p | beam.Create([1, 2, 3]) | beam.ParDo(_Periods())
        collected = periods | beam.combiners.ToList()
        collected | beam.Map(_keep)
    seen, _KEPT[:] = list(_KEPT), []
    return seen


_KEPT = []  # What _keep was given; the runner is in this process.


def _keep(values):
    _KEPT.extend(values)


def test_bundles_end_within_a_few_ms_of_beams_sampler():
    """Beam's sampler sleeps up to 200 ms between samples, and a bundle's end
    waits out that sleep; under prompt_bundle_ends every bundle's sampler
    sleeps at most 5 ms (fails if Beam builds its sampler some other way)."""
    assert set(_sampling_periods()) == {200}, "Beam's own sampling period changed: re-measure the reason"
    with beam_compat.prompt_bundle_ends():
        assert set(_sampling_periods()) == {5}
    assert statesampler.StateSampler.__name__ == "StateSampler"  # Put back.


class _Stateful(beam.DoFn):
    def process(self, element, seen=_SEEN):
        key, value = element
        earlier = list(seen.read())
        seen.add(value)
        yield key, value, len(earlier)


def test_remembered_specs_keep_state_working():
    """A stateful DoFn, its copies unpickled by every bundle, still finds its
    state: each element sees the ones of its key before it."""
    with beam_compat.dofn_specs_remembered():
        with local_pipeline() as p:
            out = (
                p
                | beam.Create([("a", "1"), ("a", "2"), ("a", "3"), ("b", "1")])
                | beam.ParDo(_Stateful())
                | beam.Map(lambda row: (row[0], row[2]))
                | beam.combiners.ToList()
                | beam.Map(_keep)
            )
            del out
    seen, _KEPT[:] = sorted(_KEPT), []
    assert seen == [("a", 0), ("a", 1), ("a", 2), ("b", 0)]


class _Holder:
    def with_state(self, element, seen=_SEEN):
        yield element

    def without_state(self, element):
        yield element


def test_remembered_specs_tell_wrapped_methods_apart():
    """Two wrapped callables are the same class of DoFn; the state is in
    the defaults of the method each wraps."""
    holder = _Holder()
    with beam_compat.dofn_specs_remembered():
        plain = userstate.get_dofn_specs(CallableWrapperDoFn(holder.without_state))
        stateful = userstate.get_dofn_specs(CallableWrapperDoFn(holder.with_state))
        copy = userstate.get_dofn_specs(pickle.loads(pickle.dumps(_Stateful())))
    assert plain == (set(), set())
    assert stateful == ({_BAG}, set())
    assert copy == ({_BAG}, set())


def test_remembered_specs_asked_once_per_kind_of_dofn(monkeypatch):
    """A fresh copy of a DoFn (as each bundle unpickles) is not inspected again."""
    asked = []
    original = userstate.get_dofn_specs

    def counting(dofn):
        asked.append(type(dofn).__name__)
        return original(dofn)

    monkeypatch.setattr(userstate, "get_dofn_specs", counting)
    with beam_compat.dofn_specs_remembered():
        for _ in range(3):
            assert userstate.get_dofn_specs(pickle.loads(pickle.dumps(_Stateful()))) == ({_BAG}, set())
    assert asked == ["_Stateful"]
