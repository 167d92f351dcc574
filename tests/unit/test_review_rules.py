"""Manual review's rules (domain/review.py): the sampling draw is uniform, so a rate of 10 %
sends about 10 % of invoices to a person, the same invoice always the same way; settings are
checked."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tierspayant.domain.errors import InvalidField
from tierspayant.domain.review import ReviewReason, ReviewRules, draw_of, review_reason
from tierspayant.security.digests import content_digest


def test_a_ten_percent_rate_samples_about_ten_percent() -> None:
    rules = ReviewRules(Decimal("0.10"))
    drawn = [review_reason(rules, True, Decimal("80.00"), draw_of(content_digest(f"invoice {n}".encode())))
             for n in range(20_000)]
    share = sum(d is ReviewReason.SAMPLED for d in drawn) / len(drawn)
    assert 0.09 < share < 0.11  # binomial: 3 standard deviations are 0.0064
    again = review_reason(rules, True, Decimal("80.00"), draw_of(content_digest(b"invoice 7")))
    assert again is drawn[7]  # the same invoice, the same draw
    assert review_reason(ReviewRules(Decimal("1")), False, Decimal("0"), Decimal("0")) is None  # rejected: no review


def test_settings_are_checked() -> None:
    assert ReviewRules.from_config({"sampling_rate": "0.10", "amc_above": "500.00"}) == ReviewRules(
        Decimal("0.10"), Decimal("500.00"))
    assert ReviewRules.from_config(None) == ReviewRules()
    for bad, field in (({"sampling_rate": "1.5"}, "review.sampling_rate"), ({"amc_above": "-1"}, "review.amc_above"),
                       ({"rate": "0.1"}, "review"), ({"sampling_rate": "ten"}, "review")):
        with pytest.raises(InvalidField) as refused:
            ReviewRules.from_config(bad)
        assert refused.value.field == field
