"""``benchmarks.holdout_tasks --try``: the settings text becomes ddnm.restore keywords of the right types."""

import argparse

import pytest

from benchmarks.holdout_tasks import knobs


def test_knobs_parse_numbers_and_words():
    assert knobs("start_t=150,steps=8") == {"start_t": 150, "steps": 8}
    assert knobs("eta=0.5") == {"eta": 0.5} and isinstance(knobs("eta=0")["eta"], int)
    assert knobs("guidance=ddpg, gamma=6") == {"guidance": "ddpg", "gamma": 6}


@pytest.mark.parametrize("text", ["steps", "=3", "steps=3,eta"])
def test_knobs_refuse_what_is_not_key_value(text):
    with pytest.raises(argparse.ArgumentTypeError):
        knobs(text)
