"""One parameter system: every setting a user can change is a declared `Param`; the settings objects are built
and checked by their declarations alone, from a form's typed values or a command line's text."""
import dataclasses
import math

import pytest

from engine.core import Declared, Param, ParamSet, ParameterError, Rule, resolve
from engine.playground import (ATTACK_PARAMS, DEFENSE_PARAMS, TRAINING_PARAMS, AttackSettings, DefenseSettings,
                               MlpConfig)
from engine.visualize import (ASCENT_KINDS, CLASS_MODEL, DEEPDREAM, UNIT, VISUALIZATION_PARAMS, AscentSettings,
                              default_settings)
from engine.visualize.report import KINDS

SETTINGS = (AscentSettings, MlpConfig, AttackSettings, DefenseSettings)


@pytest.mark.parametrize("cls", SETTINGS, ids=lambda cls: cls.__name__)
def test_every_field_of_a_settings_object_is_declared_with_the_same_default(cls):
    fields = {f.name: f.default for f in dataclasses.fields(cls)}
    assert cls.PARAMS.names == tuple(fields)
    assert {p.name: p.default for p in cls.PARAMS.params} == fields
    assert cls() == cls.from_values({}) and cls().check() == cls()


def test_exclusive_bounds_and_their_messages():
    rate = Param("rate", float, 0.1, "a rate", 0.0, 1.0, above=True, below=True)
    assert rate.parse("0.5") == 0.5 and rate.describe().startswith("rate=0.1  (0, 1)")
    for value, message in ((0, "rate must be above 0"), ("1", "rate must be below 1"),
                           ("nan", "finite number"), ("x", "must be a number")):
        with pytest.raises(ParameterError, match=message):
            rate.parse(value)


def test_resolve_types_text_and_typed_values_and_refuses_unknown_names_and_broken_rules():
    params = (Param("steps", int, 5, "steps", 1, 10), Param("on", bool, False, "on"),
              Param("mode", str, "a", "mode", choices=("a", "b")))
    rule = Rule(lambda values: values["on"] or values["mode"] == "b", "turn it on or choose b")
    assert resolve(params, {"on": True}, {"steps": "7"}, (rule,)) == {"steps": 7, "on": True, "mode": "a"}
    assert resolve(params, {}, {"mode": "b", "steps": 3}, (rule,))["steps"] == 3
    with pytest.raises(ParameterError, match="turn it on or choose b"):
        resolve(params, {}, {}, (rule,))
    with pytest.raises(ParameterError, match="unknown parameter 'step' of demo; the parameters are steps, on, mode"):
        resolve(params, {}, {"step": 1}, owner="demo")
    with pytest.raises(ParameterError, match="steps must be a whole number"):
        resolve(params, {"on": True}, {"steps": "2.5"})


def test_a_param_set_takes_the_domains_defaults_and_describes_them():
    demo = ParamSet("demo", (Param("eps", float, 8 / 255, "budget", 0.0, 1.0, unit="pixel"),),
                    {"mnist": {"eps": 0.3}})
    assert demo.defaults() == {"eps": 8 / 255} and demo.defaults("mnist") == {"eps": 0.3}
    assert demo.resolve({}, "mnist") == {"eps": 0.3} and demo.resolve({"eps": "2/255"}, "mnist")["eps"] == 2 / 255
    assert demo.resolve({}, base={"eps": 0.5}) == {"eps": 0.5}
    assert demo.describe_lines() == ["eps=0.0313725 (= 8/255)  [0, 1]  budget   (mnist: 0.3)"]
    assert demo.only(["eps"]) == demo.params
    with pytest.raises(ParameterError, match="unknown parameter 'xi' of demo"):
        demo.param("xi")


def test_ascent_settings_per_kind_keep_their_per_domain_defaults(mnist_model):
    assert default_settings(CLASS_MODEL, mnist_model) == AscentSettings(steps=150, lr=0.01, l2=0.01)
    assert default_settings(UNIT, mnist_model) == AscentSettings(steps=200, lr=0.01, decay=0.001, blur_sigma=0.5,
                                                                 blur_every=8, jitter=1, start="mean", noise=0.05)
    assert ASCENT_KINDS[DEEPDREAM].defaults("imagenet")["lr"] == 1.5 / 255
    assert ASCENT_KINDS[CLASS_MODEL].param("start").default == "mean"  # ImageNet's, as `list` shows it
    assert AscentSettings.from_values({"lr": "1.5/255", "jitter": "4"}, "mnist", ASCENT_KINDS[UNIT]) == \
        dataclasses.replace(default_settings(UNIT, mnist_model), lr=1.5 / 255, jitter=4)


@pytest.mark.parametrize("changes, message", [
    ({"decay": 1}, "decay must be below 1"), ({"norm_percentile": 100}, "norm_percentile must be below 100"),
    ({"steps": 0}, "steps must be at least 1"), ({"lr": math.inf}, "lr must be a finite number"),
    ({"start": "grey"}, "start must be one of zero, mean"), ({"strength": 1}, "unknown parameter 'strength'"),
])
def test_ascent_settings_are_checked_by_their_declarations(changes, message):
    with pytest.raises(ParameterError, match=message):
        AscentSettings().replace(**changes)
    with pytest.raises(ParameterError, match=message):
        AscentSettings.from_values(changes)
    if "strength" not in changes:  # a typed object made directly is checked by the same declarations
        with pytest.raises(ParameterError, match=message):
            dataclasses.replace(AscentSettings(), **changes).check()


def test_playground_settings_from_a_forms_values():
    assert MlpConfig.from_values({"hidden": "16, 8", "activation": "tanh", "steps": 50, "learning_rate": 0.05}) \
        == MlpConfig(hidden=(16, 8), activation="tanh", steps=50, learning_rate=0.05)
    hidden = TRAINING_PARAMS.param("hidden")
    assert hidden.text((16, 8)) == "16, 8" and hidden.parse(hidden.text((16, 8))) == (16, 8)
    assert AttackSettings.from_values({"method": "FGSM", "eps": "20/255", "norm": "2"}) == \
        AttackSettings("FGSM", 20 / 255, "2")
    assert DefenseSettings.from_values({"adversarial": False, "augment": "true", "copies": "3"}) == \
        DefenseSettings(adversarial=False, augment=True, copies=3)
    for build, message in ((lambda: MlpConfig.from_values({"hidden": "0"}), "widths between 1 and 1024"),
                           (lambda: MlpConfig(learning_rate=0.0).check(), "learning_rate must be above 0"),
                           (lambda: AttackSettings(eps=0.0).check(), "eps must be above 0"),
                           (lambda: AttackSettings(method="CW").check(), "method must be one of FGSM, PGD"),
                           (lambda: DefenseSettings(adversarial=False).check(), "choose a defense")):
        with pytest.raises(ParameterError, match=message):
            build()
    assert {ATTACK_PARAMS.name, DEFENSE_PARAMS.name} == {"playground attack", "playground defense"}


def test_every_visualization_declares_its_options():
    assert set(VISUALIZATION_PARAMS) == set(KINDS)
    assert VISUALIZATION_PARAMS["patches"].resolve({"k": "4"}) == {"k": 4, "batch_size": 64}
    assert VISUALIZATION_PARAMS["saliency"].names == ("overlay",) and not VISUALIZATION_PARAMS["filters"].params


def test_a_declared_dataclass_needs_nothing_but_its_declarations():
    @dataclasses.dataclass(frozen=True)
    class Demo(Declared):
        PARAMS = ParamSet("demo", (Param("size", int, 2, "size", 1, 9),))
        size: int = 2

    assert Demo.from_values({"size": "3"}) == Demo(3) and Demo(4).replace(size="5") == Demo(5)
    with pytest.raises(ParameterError, match="size must be at most 9"):
        Demo(10).check()
