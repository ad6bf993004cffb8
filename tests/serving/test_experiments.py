"""A/B arms: a stable hash of user and experiment, shares kept, each arm's serving options checked."""

from __future__ import annotations

from collections import Counter

import pytest

from musicrec.serving.experiments import Experiment, arm_settings, configured_experiment
from musicrec.settings import SettingsError, load_settings

ARMED = {"MUSICREC_EXPERIMENTS__NAME": "cap", "MUSICREC_EXPERIMENTS__ARMS": "control:3, capped:1",
         "MUSICREC_EXPERIMENTS__ARM_CAPPED": "max_per_artist=0, blend=alternate"}


def test_a_users_arm_is_stable_and_the_shares_hold() -> None:
    experiment = Experiment("cap", ("control", "capped"), (3.0, 1.0))
    arms = [experiment.arm_of(user) for user in range(20_000)]
    assert arms == [Experiment("cap", ("control", "capped"), (3.0, 1.0)).arm_of(user) for user in range(20_000)]
    share = Counter(arms)["capped"] / len(arms)
    assert 0.24 < share < 0.26
    # another experiment shuffles users afresh: about a quarter of its capped users were capped here
    other = Experiment("next", ("control", "capped"), (3.0, 1.0))
    both = sum(1 for user in range(20_000) if arms[user] == "capped" and other.arm_of(user) == "capped")
    assert 0.05 < both / len(arms) < 0.075


def test_settings_make_the_experiment_and_each_arms_serving_options() -> None:
    settings = load_settings(environ=ARMED)
    experiment = configured_experiment(settings)
    assert experiment is not None and experiment.arms == ("control", "capped") and experiment.shares == (3.0, 1.0)
    capped = arm_settings(settings, "capped").serving
    expected = (0, "alternate", settings.serving.online_weight)
    assert (capped.max_per_artist, capped.blend, capped.online_weight) == expected
    assert arm_settings(settings, "control").serving == settings.serving
    assert configured_experiment(load_settings(environ={})) is None  # off unless configured


@pytest.mark.parametrize(
    ("environ", "message"),
    [({"MUSICREC_EXPERIMENTS__NAME": "x", "MUSICREC_EXPERIMENTS__ARMS": "a"}, "needs at least two arms"),
     ({"MUSICREC_EXPERIMENTS__ARMS": "a:x, b"}, "[experiments] arms (or MUSICREC_EXPERIMENTS__ARMS): arm 'a'"),
     ({"MUSICREC_EXPERIMENTS__ARMS": "a, a"}, "arm names repeat"),
     ({"MUSICREC_EXPERIMENTS__ARMS": "a, b", "MUSICREC_EXPERIMENTS__ARM_B": "max_per_artist=11"},
      "[experiments] arm_b (or MUSICREC_EXPERIMENTS__ARM_B): max_per_artist: Input should be less than"),
     ({"MUSICREC_EXPERIMENTS__ARMS": "a, b", "MUSICREC_EXPERIMENTS__ARM_B": "blend=magic"}, "'magic' is not"),
     ({"MUSICREC_EXPERIMENTS__ARMS": "a, b", "MUSICREC_EXPERIMENTS__ARM_B": "api_key=x"}, "should be one of"),
     ({"MUSICREC_EXPERIMENTS__ARMS": "a, b", "MUSICREC_EXPERIMENTS__ARM_C": "blend=alternate"}, "no arm 'c'"),
     ({"MUSICREC_EXPERIMENTS__COLOUR": "red"}, "unknown key 'colour'")],
)
def test_a_wrong_experiment_stops_start_up_naming_the_key(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ=environ)
    assert message in str(caught.value)
