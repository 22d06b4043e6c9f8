"""Deterministic fictional WHOOP data, in the record shapes of the official API v2 spec.

Every day from `first` to `last` (inclusive) gets the main sleep that ends on its morning
(`nap: false`, falling asleep 22:00-00:30 local the evening before, 6-9 h), the physiological
cycle that sleep starts (it ends where the next main sleep starts; the newest cycle is open,
`end` null, with a partial strain) and that cycle's recovery. About one day in eight has an
afternoon nap (`nap: true`, no recovery); each ISO week has 3-5 workouts. About one workout
in 20 and one main sleep in 40 are `UNSCORABLE` (no `score`; such a sleep's recovery too).
Field names and order follow the example bodies built from the spec
(`tests/fixtures/whoop/spec/`): there are no public recordings of real traffic.

    from datetime import date
    from spark_jobs.sandbox.whoop_generator import generate_person
    person = generate_person("demo_player", date(2025, 1, 1), date(2025, 6, 30))
    person["sleep"][0]["nap"], person["cycle"][0]["end"]     # newest first: False, None

Same arguments, same output on every machine: each day (and each ISO week, for workouts)
draws from its own `random.Random` seeded with a string, so a longer range reproduces a
shorter one on the days they share (only the newest cycle differs: it is open) and nothing
reads the wall clock.

The person lives in America/New_York and spends one week a quarter in Europe/Berlin (so
any history of 20 weeks or more, the demo's included, has a week abroad). Each record's
`timezone_offset` is its zone's offset at its `start`, so histories spanning March or
November show the daylight-saving change. `start`/`end`/`created_at`/`updated_at` are UTC
with milliseconds and `Z`. Ids: cycle ids are int64 and increase with time; sleep and
workout ids are uuid5 of (account, day, kind); `v1_id` (and the deprecated `sport_id`) only
exist on records starting before 2025-09-01, as the spec says ("Will not exist past
09/01/2025").
"""

from __future__ import annotations

import hashlib
import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "HOME_ZONE",
    "RESOURCES",
    "SPORTS",
    "TRAVEL_ZONE",
    "V1_CUTOFF",
    "generate_person",
    "iso_ms",
    "trip_days",
    "user_id",
]

RESOURCES = ("cycle", "recovery", "sleep", "workout")
"""The record collections `generate_person` returns (besides `profile`, `body_measurement`)."""

HOME_ZONE = "America/New_York"
TRAVEL_ZONE = "Europe/Berlin"

V1_CUTOFF = datetime(2025, 9, 1, tzinfo=UTC)
"""Records starting at or after this instant carry no `v1_id` / `sport_id` (the spec)."""

SPORTS: dict[str, int] = {
    "running": 0,
    "cycling": 1,
    "swimming": 33,
    "yoga": 44,
    "weightlifting": 45,
    "functional-fitness": 48,
    "hiking/rucking": 52,
    "walking": 63,
}
"""`sport_name` -> the deprecated `sport_id` (WHOOP's v1 sport list)."""

# (minutes low, minutes high, intensity low, intensity high, km/h or None)
_SPORT_PROFILE: dict[str, tuple[int, int, float, float, float | None]] = {
    "running": (25, 70, 0.65, 0.95, 10.5),
    "cycling": (45, 115, 0.55, 0.9, 24.0),
    "swimming": (30, 60, 0.55, 0.85, 2.4),
    "yoga": (30, 75, 0.2, 0.45, None),
    "weightlifting": (40, 75, 0.4, 0.7, None),
    "functional-fitness": (30, 60, 0.6, 0.9, None),
    "hiking/rucking": (60, 115, 0.35, 0.6, 4.5),
    "walking": (30, 90, 0.2, 0.4, 5.2),
}
_FIRST_NAMES = ("Avery", "Jordan", "Riley", "Casey", "Morgan", "Quinn", "Rowan", "Skyler")
_LAST_NAMES = ("Sample", "Example", "Testwell", "Demoson", "Mockford", "Placeholder")
_NAMESPACE = uuid.UUID("0b6f3c1e-5a8d-4f27-9c61-7e2d4a9b8f10")
_EPOCH = date(2010, 1, 1)  # cycle ids: user_id * 100000 + days since this date
_MS = timedelta(milliseconds=1)


def user_id(account: str) -> int:
    """The stable fictional WHOOP `user_id` of an account (10000..99999)."""
    digest = hashlib.sha256(f"whoop-user|{account}".encode()).digest()
    return 10000 + int.from_bytes(digest[:8], "big") % 90000


def iso_ms(moment: datetime) -> str:
    """`2022-04-24T02:25:44.774Z`: the API's UTC timestamp format (milliseconds, `Z`)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + f".{utc.microsecond // 1000:03d}Z"


def _offset(moment: datetime, zone: ZoneInfo) -> str:
    raw = moment.astimezone(zone).strftime("%z")  # "-0500"
    return f"{raw[:3]}:{raw[3:]}"


def _uid(account: str, day: date, kind: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{account}|{day.isoformat()}|{kind}"))


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def trip_days(account: str, year: int, quarter: int, seed: int = 7) -> tuple[date, date]:
    """The first and last day (7 days) of the account's week abroad in a calendar quarter.

    It starts 14 to 49 days into the quarter, so consecutive trips are at most ~19 weeks apart.
    """
    rng = random.Random(f"whoop|{seed}|{account}|trip|{year}|{quarter}")
    begin = date(year, 3 * (quarter - 1) + 1, 1) + timedelta(days=rng.randint(14, 49))
    return begin, begin + timedelta(days=6)


def _quarter(day: date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


@dataclass
class _Sleep:
    day: date  # the morning it ends on (naps: the afternoon they happen on)
    start: datetime
    end: datetime
    zone: ZoneInfo
    nap: bool
    record: dict[str, Any] = field(default_factory=dict)
    asleep_ms: int = 0
    quality: float = 0.0


@dataclass
class _Workout:
    day: date
    start: datetime
    end: datetime
    zone: ZoneInfo
    record: dict[str, Any] = field(default_factory=dict)
    strain: float = 0.0
    kilojoule: float = 0.0
    max_hr: int = 0


class _Person:
    """One account's records, each day (and week) drawn from its own seeded RNG."""

    def __init__(self, account: str, seed: int) -> None:
        self.account = account
        self.seed = seed
        self.user_id = user_id(account)
        self.home = ZoneInfo(HOME_ZONE)
        self.abroad = ZoneInfo(TRAVEL_ZONE)
        base = self.rng("person")
        self.max_hr = base.randint(182, 198)
        self.resting_hr = base.uniform(50.0, 60.0)
        self.baseline_need_ms = base.randint(26_400_000, 28_800_000)
        self.height = round(base.uniform(1.62, 1.93), 4)
        self.weight = round(base.uniform(58.0, 92.0), 4)
        sports = list(SPORTS)
        base.shuffle(sports)
        self.favourites = sports[:3]
        self.first_name = base.choice(_FIRST_NAMES)
        self.last_name = base.choice(_LAST_NAMES)
        self._trips: dict[tuple[int, int], tuple[date, date]] = {}

    def rng(self, *what: object) -> random.Random:
        return random.Random("|".join(("whoop", str(self.seed), self.account, *map(str, what))))

    def zone(self, day: date) -> ZoneInfo:
        key = _quarter(day)
        if key not in self._trips:
            self._trips[key] = trip_days(self.account, *key, seed=self.seed)
        begin, end = self._trips[key]
        return self.abroad if begin <= day <= end else self.home

    def quality(self, day: date) -> float:
        """How well the night ending on `day`'s morning went, 0..1 (drives the scores)."""
        rng = self.rng(day, "quality")
        season = 0.05 * math.sin(2 * math.pi * day.timetuple().tm_yday / 365.25)
        weekend = -0.1 if day.weekday() in (5, 6) else 0.0
        value = 0.68 + season + weekend + rng.gauss(0.0, 0.12)
        return min(1.0, max(0.0, value))

    # -- sleeps ------------------------------------------------------------------------------

    def main_sleep(self, day: date) -> _Sleep:
        rng = self.rng(day, "night")
        zone = self.zone(day)
        bedtime = datetime.combine(day - timedelta(days=1), time(22), tzinfo=zone)
        start = (bedtime + timedelta(milliseconds=rng.randrange(150 * 60_000))).astimezone(UTC)
        end = start + timedelta(milliseconds=rng.randrange(6 * 3_600_000, 9 * 3_600_000))
        return _Sleep(day, start, end, zone, nap=False, quality=self.quality(day))

    def nap(self, day: date) -> _Sleep | None:
        rng = self.rng(day, "nap")
        if rng.random() >= 1 / 8:
            return None
        zone = self.zone(day)
        begin = datetime.combine(day, time(12, 30), tzinfo=zone)
        start = (begin + timedelta(milliseconds=rng.randrange(150 * 60_000))).astimezone(UTC)
        end = start + timedelta(milliseconds=rng.randrange(20 * 60_000, 80 * 60_000))
        return _Sleep(day, start, end, zone, nap=True, quality=rng.uniform(0.4, 0.9))

    def sleep_record(
        self, sleep: _Sleep, cycle_id: int, previous: _Sleep | None, nap_before: _Sleep | None
    ) -> None:
        kind = "nap" if sleep.nap else "sleep"
        rng = self.rng(sleep.day, kind, "score")
        in_bed = int((sleep.end - sleep.start) / _MS)
        awake = int(in_bed * rng.uniform(0.04, 0.12) * (1.3 - 0.5 * sleep.quality))
        no_data = 0 if rng.random() < 0.85 else rng.randrange(60_000, 900_000)
        asleep = in_bed - awake - no_data
        rem = int(asleep * rng.uniform(0.18, 0.26))
        deep = int(asleep * rng.uniform(0.14, 0.24))
        light = asleep - rem - deep
        sleep.asleep_ms = asleep
        debt = 0 if rng.random() < 0.4 else rng.randrange(0, 1_800_000)
        strain_need = rng.randrange(0, 600_000)
        nap_credit = -int(nap_before.asleep_ms * 0.6) if nap_before is not None else 0
        need = self.baseline_need_ms + debt + strain_need + nap_credit
        if previous is not None:
            drift = abs(_minute_of_evening(sleep) - _minute_of_evening(previous))
            consistency = float(max(35, min(98, round(96 - drift * 0.45 + rng.gauss(0, 3)))))
        else:
            consistency = float(rng.randint(70, 90))
        cycles = max(0 if sleep.nap else 2, round(asleep / 5_400_000))
        score = {
            "stage_summary": {
                "total_in_bed_time_milli": in_bed,
                "total_awake_time_milli": awake,
                "total_no_data_time_milli": no_data,
                "total_light_sleep_time_milli": light,
                "total_slow_wave_sleep_time_milli": deep,
                "total_rem_sleep_time_milli": rem,
                "sleep_cycle_count": cycles,
                "disturbance_count": rng.randint(0, 3) if sleep.nap else rng.randint(3, 18),
            },
            "sleep_needed": {
                "baseline_milli": self.baseline_need_ms,
                "need_from_sleep_debt_milli": debt,
                "need_from_recent_strain_milli": strain_need,
                "need_from_recent_nap_milli": nap_credit,
            },
            # Multiples of 1/256, like the spec's 16.11328125.
            "respiratory_rate": round((15.4 + rng.gauss(0, 0.5)) * 256) / 256,
            "sleep_performance_percentage": float(min(100, round(100 * asleep / need))),
            "sleep_consistency_percentage": consistency,
            "sleep_efficiency_percentage": round(100 * asleep / in_bed, 8),
        }
        created = sleep.end + timedelta(milliseconds=rng.randrange(4 * 60_000, 50 * 60_000))
        updated = created + timedelta(milliseconds=rng.randrange(0, 3 * 3_600_000))
        record: dict[str, Any] = {
            "id": _uid(self.account, sleep.day, kind),
            "cycle_id": cycle_id,
        }
        if sleep.start < V1_CUTOFF:
            record["v1_id"] = self.activity_v1_id(sleep.day, 1 if sleep.nap else 0)
        record.update(
            {
                "user_id": self.user_id,
                "created_at": iso_ms(created),
                "updated_at": iso_ms(updated),
                "start": iso_ms(sleep.start),
                "end": iso_ms(sleep.end),
                "timezone_offset": _offset(sleep.start, sleep.zone),
                "nap": sleep.nap,
                "score_state": "SCORED",
                "score": score,
            }
        )
        if not sleep.nap and self.rng(sleep.day, "unscorable").random() < 1 / 40:
            record["score_state"] = "UNSCORABLE"
            del record["score"]
        sleep.record = record

    def activity_v1_id(self, day: date, slot: int) -> int:
        """A v1 activity id (sleeps and workouts shared one id space in v1)."""
        return self.user_id * 1_000_000 + (day - _EPOCH).days * 10 + slot

    # -- workouts ----------------------------------------------------------------------------

    def week_workouts(self, monday: date, sleeps: dict[date, _Sleep]) -> list[_Workout]:
        rng = self.rng(monday, "week")
        count = rng.choice((3, 4, 4, 5))
        out = []
        for offset in sorted(rng.sample(range(7), count)):
            day = monday + timedelta(days=offset)
            if day in sleeps:
                out.append(self.workout(day, sleeps[day]))
        return out

    def workout(self, day: date, night: _Sleep) -> _Workout:
        rng = self.rng(day, "workout")
        sport = rng.choice(self.favourites) if rng.random() < 0.85 else rng.choice(list(SPORTS))
        low, high, i_low, i_high, speed = _SPORT_PROFILE[sport]
        minutes = rng.uniform(low, high)
        zone = self.zone(day)
        if rng.random() < 0.4:  # before work, soon after waking up
            start = night.end + timedelta(milliseconds=rng.randrange(30 * 60_000, 75 * 60_000))
            minutes = min(minutes, 75.0)  # done before a possible nap at 12:30
        else:
            evening = datetime.combine(day, time(17), tzinfo=zone)
            start = evening + timedelta(milliseconds=rng.randrange(150 * 60_000))
        start = start.astimezone(UTC)
        duration = int(minutes * 60_000)
        end = start + timedelta(milliseconds=duration)
        intensity = rng.uniform(i_low, i_high)
        hours = duration / 3_600_000
        strain = round(min(21.0, 2.5 + 11.5 * intensity * math.sqrt(hours) + rng.gauss(0, 0.6)), 4)
        average = round(self.resting_hr + (self.max_hr - self.resting_hr) * (0.3 + 0.5 * intensity))
        peak = min(self.max_hr, average + rng.randint(12, 35))
        kilojoule = round(minutes * (18 + 32 * intensity) * rng.uniform(0.9, 1.1), 3)
        score: dict[str, Any] = {
            "strain": max(0.1, strain),
            "average_heart_rate": int(average),
            "max_heart_rate": int(peak),
            "kilojoule": kilojoule,
            "percent_recorded": 100.0 if rng.random() < 0.8 else round(rng.uniform(88, 99.9), 2),
        }
        if speed is not None:
            distance = speed * hours * 1000 * rng.uniform(0.85, 1.15)
            score["distance_meter"] = round(distance, 8)
            if sport != "swimming":
                score["altitude_gain_meter"] = round(distance * rng.uniform(0.002, 0.02), 8)
                score["altitude_change_meter"] = round(rng.uniform(-6.0, 6.0), 8)
        score["zone_durations"] = _zones(rng, duration, intensity)
        created = end + timedelta(milliseconds=rng.randrange(2 * 60_000, 40 * 60_000))
        updated = created + timedelta(milliseconds=rng.randrange(0, 3_600_000))
        record: dict[str, Any] = {"id": _uid(self.account, day, "workout")}
        old = start < V1_CUTOFF
        if old:
            record["v1_id"] = self.activity_v1_id(day, 2)
        record.update(
            {
                "user_id": self.user_id,
                "created_at": iso_ms(created),
                "updated_at": iso_ms(updated),
                "start": iso_ms(start),
                "end": iso_ms(end),
                "timezone_offset": _offset(start, zone),
                "sport_name": sport,
                "score_state": "SCORED",
                "score": score,
            }
        )
        if old:
            record["sport_id"] = SPORTS[sport]
        if self.rng(day, "workout", "unscorable").random() < 1 / 20:
            record["score_state"] = "UNSCORABLE"
            del record["score"]
        return _Workout(day, start, end, zone, record, score["strain"], kilojoule, int(peak))

    # -- cycles and recoveries ---------------------------------------------------------------

    def cycle_id(self, day: date) -> int:
        return self.user_id * 100_000 + (day - _EPOCH).days

    def cycle_record(
        self,
        night: _Sleep,
        next_night: _Sleep | None,
        workouts: list[_Workout],
    ) -> dict[str, Any]:
        rng = self.rng(night.day, "cycle")
        base_strain = rng.uniform(4.0, 8.5)
        strain = base_strain + sum(0.55 * w.strain for w in workouts)
        kilojoule = rng.uniform(6800.0, 9600.0) + sum(0.85 * w.kilojoule for w in workouts)
        average = rng.randint(58, 74) + min(6, 2 * len(workouts))
        peak = max([rng.randint(118, 146), *(w.max_hr for w in workouts)])
        created = datetime.fromisoformat(night.record["created_at"])
        if next_night is not None:
            end: str | None = iso_ms(next_night.start)
            updated = datetime.fromisoformat(next_night.record["created_at"])
        else:
            # The open cycle: strain and energy so far.
            end = None
            part = rng.uniform(0.3, 0.6)
            strain, kilojoule = base_strain * part + (strain - base_strain), kilojoule * part
            done = [datetime.fromisoformat(w.record["updated_at"]) for w in workouts]
            updated = max([created, *done]) + timedelta(milliseconds=rng.randrange(60_000))
        return {
            "id": self.cycle_id(night.day),
            "user_id": self.user_id,
            "created_at": iso_ms(created),
            "updated_at": iso_ms(updated),
            "start": iso_ms(night.start),
            "end": end,
            "timezone_offset": _offset(night.start, night.zone),
            "score_state": "SCORED",
            "score": {
                "strain": round(min(21.0, strain), 7),
                "kilojoule": round(kilojoule, 3),
                "average_heart_rate": average,
                "max_heart_rate": peak,
            },
        }

    def recovery_record(self, night: _Sleep, previous_strain: float | None) -> dict[str, Any]:
        rng = self.rng(night.day, "recovery")
        q = night.quality
        load = 0.0 if previous_strain is None else (previous_strain - 11.0) * 1.6
        created = datetime.fromisoformat(night.record["created_at"]) + timedelta(
            milliseconds=rng.randrange(0, 120_000)
        )
        updated = created + timedelta(milliseconds=rng.randrange(0, 600_000))
        record: dict[str, Any] = {
            "cycle_id": night.record["cycle_id"],
            "sleep_id": night.record["id"],
            "user_id": self.user_id,
            "created_at": iso_ms(created),
            "updated_at": iso_ms(updated),
            "score_state": night.record["score_state"],
        }
        if record["score_state"] == "SCORED":
            score = 18 + 72 * q - load + rng.gauss(0, 6)
            record["score"] = {
                "user_calibrating": False,
                "recovery_score": float(max(1, min(99, round(score)))),
                "resting_heart_rate": float(
                    round(self.resting_hr + 8 * (0.6 - q) + rng.gauss(0, 1.5))
                ),
                "hrv_rmssd_milli": round(max(12.0, 32 + 60 * q + rng.gauss(0, 6)), 6),
                "spo2_percentage": min(
                    99.9375, round((95.0 + 3.5 * q + rng.gauss(0, 0.6)) * 16) / 16
                ),
                "skin_temp_celsius": round(33.4 + rng.gauss(0, 0.35), 1),
            }
        return record


def _minute_of_evening(sleep: _Sleep) -> float:
    """Minutes after 18:00 local the sleep started (for consistency between nights)."""
    local = sleep.start.astimezone(sleep.zone)
    return ((local.hour - 18) % 24) * 60 + local.minute + local.second / 60


def _zones(rng: random.Random, duration: int, intensity: float) -> dict[str, int]:
    centre = 0.5 + 4.0 * intensity  # zone the workout mostly sits in
    weights = [math.exp(-((z - centre) ** 2) / 1.6) * rng.uniform(0.7, 1.3) for z in range(6)]
    total = sum(weights)
    parts = [int(duration * w / total) for w in weights]
    parts[round(min(5, max(0, centre)))] += duration - sum(parts)  # sums to the duration
    names = ("zero", "one", "two", "three", "four", "five")
    return {f"zone_{name}_milli": part for name, part in zip(names, parts, strict=True)}


def _key(record: dict[str, Any]) -> tuple[str, Any]:
    return (record["start"], record["id"])


def generate_person(
    account: str,
    first: date,
    last: date,
    *,
    seed: int = 7,
    until: datetime | None = None,
) -> dict[str, Any]:
    """A fictional WHOOP member's records for the days `first` to `last` (inclusive).

    Args:
        account: The account (keys every random draw; the e-mail's local part).
        first: The first day (its main sleep starts the evening before).
        last: The last day (the demo passes today).
        seed: Generator seed.
        until: Leave out what would not exist yet at this instant (activities not uploaded
            before it, the cycles they would start); timestamps are capped at it. The demo
            passes its "now"; None keeps everything up to `last`.

    Returns:
        `{"cycle": [...], "recovery": [...], "sleep": [...], "workout": [...],
        "profile": {...}, "body_measurement": {...}, "pending": [(resource, id), ...]}`,
        records newest first as the API sorts them. `pending` names the newest main sleep
        and its recovery, which `WhoopStore.add_generated_person` serves as PENDING_SCORE on
        their first read (then as generated: SCORED, or now and then UNSCORABLE).

    Raises:
        ValueError: `last` is before `first`.
    """
    if last < first:
        raise ValueError(f"last {last} is before first {first}")
    person = _Person(account, seed)
    # The day before `first` is generated as context (the first night's consistency and nap
    # credit, the first recovery's previous strain) and then dropped, so the records of a
    # day do not depend on where the range starts.
    context = first - timedelta(days=1)
    nights = {day: person.main_sleep(day) for day in _days(context, last)}
    # Flight days (the zone changes overnight): no nap, no workout.
    travel = {day for day in nights if person.zone(day) != person.zone(day + timedelta(days=1))}
    naps = {
        day: nap for day in nights if day not in travel and (nap := person.nap(day)) is not None
    }
    workouts: list[_Workout] = []
    monday = context - timedelta(days=context.weekday())
    while monday <= last:
        workouts.extend(w for w in person.week_workouts(monday, nights) if w.day not in travel)
        monday += timedelta(days=7)

    def uploaded(item: _Sleep | _Workout) -> bool:
        return until is None or item.end + timedelta(minutes=50) <= until

    # An activity exists once it is uploaded; keep only what exists at `until` (uploads take
    # at most 50 minutes, so this cut never splits a day).
    days = [day for day in sorted(nights) if uploaded(nights[day])]
    kept = set(days)
    previous: _Sleep | None = None
    for day in days:
        night = nights[day]
        nap_before = naps.get(day - timedelta(days=1))
        person.sleep_record(night, person.cycle_id(day), previous, nap_before)
        previous = night
    kept_naps = [naps[day] for day in days if day in naps and uploaded(naps[day])]
    for nap in kept_naps:
        person.sleep_record(nap, person.cycle_id(nap.day), None, None)
    kept_workouts = [w for w in workouts if w.day in kept and uploaded(w)]
    by_day: dict[date, list[_Workout]] = {}
    for w in kept_workouts:
        by_day.setdefault(w.day, []).append(w)

    cycles, recoveries = [], []
    previous_strain: float | None = None
    for index, day in enumerate(days):
        night = nights[day]
        following = nights[days[index + 1]] if index + 1 < len(days) else None
        cycle = person.cycle_record(night, following, by_day.get(day, []))
        recoveries.append(person.recovery_record(night, previous_strain))
        previous_strain = cycle["score"]["strain"]
        cycles.append(cycle)

    def in_range(day: date) -> bool:
        return day >= first

    cycles = [c for c, day in zip(cycles, days, strict=True) if in_range(day)]
    recoveries = [r for r, day in zip(recoveries, days, strict=True) if in_range(day)]
    days = [day for day in days if in_range(day)]
    kept_naps = [nap for nap in kept_naps if in_range(nap.day)]
    kept_workouts = [w for w in kept_workouts if in_range(w.day)]
    sleeps = [nights[day].record for day in days] + [nap.record for nap in kept_naps]
    pending: list[tuple[str, Any]] = []
    if days:
        # Still being evaluated when first read, whatever it turns out to be (even UNSCORABLE).
        newest = nights[days[-1]].record
        pending = [("sleep", newest["id"]), ("recovery", newest["cycle_id"])]
    if until is not None:
        cap = iso_ms(until)
        for record in (*cycles, *recoveries, *sleeps, *(w.record for w in kept_workouts)):
            for name in ("created_at", "updated_at"):
                record[name] = min(record[name], cap)  # same format: strings compare as times
    return {
        "cycle": sorted(cycles, key=_key, reverse=True),
        "recovery": recoveries[::-1],
        "sleep": sorted(sleeps, key=_key, reverse=True),
        "workout": sorted((w.record for w in kept_workouts), key=_key, reverse=True),
        "profile": {
            "user_id": person.user_id,
            "email": f"{account.lower()}@example.com",
            "first_name": person.first_name,
            "last_name": person.last_name,
        },
        "body_measurement": {
            "height_meter": person.height,
            "weight_kilogram": person.weight,
            "max_heart_rate": person.max_hr,
        },
        "pending": pending,
    }
