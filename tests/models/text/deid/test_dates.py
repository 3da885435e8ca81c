"""Format-preserving date shifting."""

from __future__ import annotations

from datetime import datetime

import pytest

from cliniloop.models.text.deid.dates import month_like, shift_date_text

# original -> expected after a shift of -35 days (2021-03-04 - 35 d = 2021-01-28; the
# no-year anchor is 2000, a leap year: 2000-03-04 - 35 d = 2000-01-29; month+year anchors on
# the 15th: 2021-03-15 - 35 d = 2021-02-08).
CASES = [
    ("03/04/2021", "01/28/2021"),
    ("3/4/21", "1/28/21"),
    ("2021-03-04", "2021-01-28"),
    ("2021/03/04", "2021/01/28"),
    ("20210304", "20210128"),
    ("03.04.2021", "01.28.2021"),
    ("03-04-2021", "01-28-2021"),
    ("4 March 2021", "28 January 2021"),
    ("March 4, 2021", "January 28, 2021"),
    ("Mar 4 2021", "Jan 28 2021"),
    ("Mar. 4, 2021", "Jan. 28, 2021"),
    ("04-Mar-2021", "28-Jan-2021"),
    ("4-MAR-21", "28-JAN-21"),
    ("March 4th", "January 29th"),
    ("4th of March", "29th of January"),
    ("4TH OF MARCH", "29TH OF JANUARY"),
    ("march 4", "january 29"),
    ("March 2021", "February 2021"),
    ("Mar-2021", "Feb-2021"),
    ("3/4", "1/29"),
    ("03/04", "01/29"),
    ("March 4", "January 29"),
    ("03/2021", "02/2021"),
    ("2021-03", "2021-02"),
    ("Sept 4, 2021", "Jul 31, 2021"),
    ("13/04/2021", "09/03/2021"),  # first number > 12: day-first, kept day-first
    ("Thursday, March 4, 2021", "Thursday, January 28, 2021"),
    ("Thu 03/04/2021", "Thu 01/28/2021"),
    ("03/04/2021 14:30", "01/28/2021 14:30"),
    ("2021-03-04T10:00:00Z", "2021-01-28T10:00:00Z"),
    (" 3/4/2021 ", " 1/28/2021 "),
]


@pytest.mark.parametrize(("original", "expected"), CASES)
def test_shift_keeps_shape(original: str, expected: str) -> None:
    assert shift_date_text(original, -35) == expected


def test_forward_shift_and_ordinals() -> None:
    assert shift_date_text("March 4th", 60) == "May 3rd"
    assert shift_date_text("1st of June 2021", 1) == "2nd of June 2021"
    assert shift_date_text("June 10th", 1) == "June 11th"
    assert shift_date_text("Mar. 4, 2021", 60) == "May 3, 2021"  # "May" takes no dot
    assert shift_date_text("May. 4, 2021", -35) == "Mar. 30, 2021"
    assert shift_date_text("Thursday, March 4, 2021", -1) == "Wednesday, March 3, 2021"
    assert shift_date_text("THU 3/4/2021", 2) == "SAT 3/6/2021"


def test_thirty_five_day_interval_is_kept() -> None:
    first, second = "03/04/2021", "April 8, 2021"
    assert (datetime(2021, 4, 8) - datetime(2021, 3, 4)).days == 35
    for shift in (-308, -30, -365, 17):
        a = datetime.strptime(shift_date_text(first, shift), "%m/%d/%Y")
        b = datetime.strptime(shift_date_text(second, shift), "%B %d, %Y")
        assert (b - a).days == 35
        assert (a - datetime(2021, 3, 4)).days == shift


def test_leap_day() -> None:
    assert shift_date_text("2/29/2020", 1) == "3/1/2020"
    assert shift_date_text("02/28/2021", 1) == "03/01/2021"
    assert shift_date_text("2020-02-29", -366) == "2019-02-28"
    assert shift_date_text("2/29", 1) == "3/1"  # no year: anchored in 2000, a leap year
    assert shift_date_text("3/1", -1) == "2/29"
    assert shift_date_text("2/29/2021", 1) is None  # not a date
    assert shift_date_text("29 Feb 2021", 1) is None


def test_two_digit_years() -> None:
    assert shift_date_text("12/31/99", 1) == "01/01/00"
    assert shift_date_text("1/1/00", -1) == "12/31/99"
    assert shift_date_text("3/4/21", 365) == "3/4/22"
    assert shift_date_text("4-MAR-69", -4) == "28-FEB-69"  # 69 reads as 1969: not a leap year


def test_year_only_and_month_year_anchors() -> None:
    assert shift_date_text("2021", -200) == "2020"  # anchored on 1 July
    assert shift_date_text("2021", -100) == "2021"
    assert shift_date_text("December 2021", 20) == "January 2022"  # anchored on the 15th


@pytest.mark.parametrize(
    "text", ["13/45", "BP", "120/80", "", "   ", "hello", "32/01/2021", "Foo 4, 2021", "2021-13-01", "99999999"]
)
def test_not_a_date(text: str) -> None:
    assert shift_date_text(text, -35) is None


def test_month_like() -> None:
    assert month_like("MAR", 5) == "MAY"
    assert month_like("march", 12) == "december"
    assert month_like("Sept", 9) == "Sept"
    assert month_like("Sept", 10) == "Oct"
