"""Each profile's response texts have a display form that follows the code on the narrowest display (FX19, AU20
L4: a decline on 2 rows read "51 Insufficient fund", 57 and 58 "Not permitted to "). One table per profile
beside ``response_texts``, checked when the profile is built."""

from __future__ import annotations

from dataclasses import replace

import pytest

from firmware.errors import ConfigError
from firmware.host.profiles import get_profile
from hal.display import MIN_COLS

PROFILES = ["cup", "iso87", "iso87-aes"]


@pytest.mark.parametrize("name", PROFILES)
def test_every_code_with_a_text_has_a_display_form_that_fits_after_its_code(name):
    profile = get_profile(name)
    assert set(profile.display_texts) == set(profile.response_texts)
    for code, text in profile.display_texts.items():
        assert len(f"{code} {text}") <= MIN_COLS and text == text.upper(), (code, text)


def test_57_and_58_are_told_apart_on_the_display():
    forms = get_profile("cup").display_texts
    assert forms["57"] != forms["58"] and forms["38"] != forms["51"]


@pytest.mark.parametrize(("change", "words"), [
    ({"51": "INSUFFICIENT FUNDS"}, "display form of '51' must be 1 to 13"),  # 16 after "51 ": cut on 2 x 16
    ({"51": "no funds"}, "display form of '51' must be 1 to 13 printable upper-case"),
    ({"51": ""}, "display form of '51'"),
    ({"7Z": "WHAT"}, "a code with no response text"),
])
def test_a_display_form_that_would_be_cut_or_is_unlisted_is_refused(change, words):
    cup = get_profile("cup")
    with pytest.raises(ConfigError) as caught:
        replace(cup, display_texts={**cup.display_texts, **change})
    assert caught.value.code == "config.bad_response_code" and words in caught.value.text


def test_a_code_with_a_text_and_no_display_form_is_refused():
    cup = get_profile("cup")
    forms = {code: text for code, text in cup.display_texts.items() if code != "51"}
    with pytest.raises(ConfigError) as caught:
        replace(cup, display_texts=forms)
    assert caught.value.code == "config.bad_response_code" and "'51' has no display form" in caught.value.text
