"""RFC 5545 recurrence rules of standing orders, read in the centre's local time.

A rule is one RRULE line (`FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=11;BYMINUTE=30`) parsed by python-dateutil
with `starts_on` at local midnight as DTSTART, so BYHOUR/BYMINUTE are wall-clock times in CITY_TZ; each
occurrence is converted to UTC for storage. Asia/Shanghai has no daylight saving time; were the centre's zone
to have it, `replace(tzinfo=...)` would resolve a skipped or repeated wall time by its `fold` rule.

What the centre refuses, and why: DTSTART/UNTIL/COUNT inside the rule (the dates are `starts_on`/`ends_on`,
one source of truth), a rule without a time of day (it would fire at midnight), anything firing more often
than hourly (a home-care visit every 30 minutes is a typo, and would flood dispatch), and frequencies finer
than DAILY (several visits a day are listed in BYHOUR), and a rule with no occurrence in its first five years.

dateutil searches day by day and gives up only at the year 9999: asked about a rule that never occurs (30
February) it would search for seconds. Validation therefore asks about the same dates 400·k years later,
close to 9999: the Gregorian calendar repeats exactly every 400 years (weekdays included), so the answer is
the same and the search stops within a few hundred years. A rule that occurs once recurs within that cycle,
so the searches of a validated rule (next_occurrence) always end quickly.
"""

from __future__ import annotations

from datetime import MAXYEAR, UTC, date, datetime, time, timedelta
from itertools import islice, pairwise

from dateutil.rrule import DAILY, rrule, rrulestr

from eldercare.core.time import CITY_TZ

MIN_GAP = timedelta(hours=1)
HORIZON_YEARS = 5
CALENDAR_CYCLE_YEARS = 400
GAP_SAMPLE = 500  # occurrences checked for the minimum gap: a rule repeats within a year, mostly a week
MAX_RULE_LENGTH = 255
_FORBIDDEN_PARTS = ("DTSTART", "UNTIL", "COUNT", "BYSETPOS", "BYSECOND")


class RuleError(ValueError):
    """A rule the centre will not run; the message is shown to the operator under the field `rrule`."""


def normalise(text: str) -> str:
    rule = text.strip().upper()
    return rule.removeprefix("RRULE:")


def parse(text: str, starts_on: date) -> rrule:
    """The rule as dateutil's iterator of naive local datetimes, or RuleError."""
    rule = normalise(text)
    if not rule or len(rule) > MAX_RULE_LENGTH or "\n" in rule or "\r" in rule:
        raise RuleError(f"Give one RRULE line of at most {MAX_RULE_LENGTH} characters.")
    parts = {part.partition("=")[0] for part in rule.split(";") if part}
    forbidden = sorted(parts.intersection(_FORBIDDEN_PARTS))
    if forbidden:
        raise RuleError(f"{', '.join(forbidden)} is not accepted here: use starts_on and ends_on.")
    try:
        parsed = rrulestr(rule, dtstart=datetime.combine(starts_on, time()))
    except (ValueError, TypeError, KeyError, IndexError) as exc:  # dateutil's ways of saying "bad syntax"
        raise RuleError(f"Not an RFC 5545 RRULE: {exc}") from exc
    if not isinstance(parsed, rrule):
        raise RuleError("Give one RRULE, not a set.")
    if parsed._freq > DAILY:
        raise RuleError("FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY; list several times a day in BYHOUR.")
    if "BYHOUR" not in parts:
        raise RuleError("Give the time of day with BYHOUR (and BYMINUTE), e.g. BYHOUR=11;BYMINUTE=30.")
    return parsed


def validate(text: str, starts_on: date, ends_on: date | None) -> rrule:
    """Parse and check a rule for a recurrence from `starts_on` to `ends_on` (inclusive)."""
    if ends_on is not None and ends_on < starts_on:
        raise RuleError("ends_on is before starts_on.")
    parsed = parse(text, starts_on)
    years = _years_to_far_copy(starts_on)
    limit = _shift(starts_on, years + HORIZON_YEARS)
    if ends_on is not None:
        limit = min(limit, _shift(ends_on, years))
    far = parse(text, _shift(starts_on, years)).replace(until=datetime.combine(limit, time.max))
    sample = list(islice(far, GAP_SAMPLE))
    if not sample:
        raise RuleError("The rule has no occurrence between starts_on and ends_on (or in its first five years).")
    gaps = (later - earlier for earlier, later in pairwise(sample))
    if any(gap < MIN_GAP for gap in gaps):
        raise RuleError("Rules may not repeat more often than hourly.")
    return parsed


def _years_to_far_copy(day: date) -> int:
    """Whole calendar cycles that move `day` as late as leaves the horizon before dateutil's last year."""
    return (MAXYEAR - 1 - HORIZON_YEARS - day.year) // CALENDAR_CYCLE_YEARS * CALENDAR_CYCLE_YEARS


def _shift(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a common year (only the horizon's end; a cycle keeps leap years)
        return day.replace(year=day.year + years, day=28)


def to_local_naive(moment: datetime) -> datetime:
    return moment.astimezone(CITY_TZ).replace(tzinfo=None)


def to_utc(local: datetime) -> datetime:
    return local.replace(tzinfo=CITY_TZ).astimezone(UTC)


def next_occurrence(parsed: rrule, after: datetime, ends_on: date | None) -> datetime | None:
    """The first occurrence strictly after the aware instant `after`, in UTC; None when the rule is done."""
    found = parsed.after(to_local_naive(after), inc=False)
    if found is None or (ends_on is not None and found.date() > ends_on):
        return None
    return to_utc(found)


def upcoming(parsed: rrule, after: datetime, ends_on: date | None, count: int) -> list[datetime]:
    found: list[datetime] = []
    moment: datetime | None = after
    while moment is not None and len(found) < count:
        moment = next_occurrence(parsed, moment, ends_on)
        if moment is not None:
            found.append(moment)
    return found

