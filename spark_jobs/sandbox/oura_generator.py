"""Deterministic fictional Oura data, in the exact document shapes of the real API v2.

Every day from `start` to `end` (inclusive) gets a night (one `long_sleep` whose `day` is that
day, plus occasional `sleep` / `late_nap` naps and a rare `rest`), the daily summaries
(sleep, readiness, resilience, stress, SpO2, cardiovascular age, activity), 5-minute heart-rate
samples and now and then a workout, a session, an enhanced tag, a VO2 max estimate or a rest
mode period. Field names, order and types follow the genuine recordings in
`spark_jobs/sandbox/data/oura/` (`vO2_max` follows the spec: it was never genuinely recorded).

Same arguments, same output on every machine: each day draws from its own `random.Random`
seeded with a string (SHA-512 based), so a longer range reproduces the shorter one exactly on
the days they share (a later sync only adds days) and nothing reads the wall clock.

    from datetime import date
    from spark_jobs.sandbox.oura_generator import generate_person, night_quality
    person = generate_person("demo_player", date(2024, 1, 1), date(2024, 6, 30))
    person["sleep"][0]["type"]                           # "long_sleep" (or a nap)
    night_quality("demo_player", date(2024, 3, 31))      # 0.0 .. 1.0, drives the sleep score

Local times carry the offset of `tz` (default Europe/Madrid) at that instant, so nights that
span a daylight-saving change have a `bedtime_start` and `bedtime_end` with different offsets.
Heart-rate timestamps are UTC, as the API sends them.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["DAY_ENDPOINTS", "generate_person", "heartrate_rows", "night_quality"]

DAY_ENDPOINTS = (
    "daily_activity",
    "daily_cardiovascular_age",
    "daily_readiness",
    "daily_resilience",
    "daily_sleep",
    "daily_spo2",
    "daily_stress",
    "enhanced_tag",
    "rest_mode_period",
    "ring_configuration",
    "session",
    "sleep",
    "sleep_time",
    "tag",
    "vO2_max",
    "workout",
)
"""The document collections `generate_person` returns (besides `heartrate`, `personal_info`)."""

_NAMESPACE = uuid.UUID("6f1c7a52-3d0e-4b8e-9a55-0e6c2f9b7d41")
_TAG_CODES = (
    "tag_generic_nocaffeine",
    "tag_sleep_latemeal",
    "tag_generic_dark_bedroom",
    "tag_generic_fasting",
    "tag_generic_party",
    "tag_generic_alcohol",
)
_SESSION_TYPES = ("breathing", "meditation", "relaxation", "nap", "rest", "body_status")
_MOODS = ("bad", "worse", "same", "good", "great")


def night_quality(name: str, day: date, seed: int = 7) -> float:
    """How well `name` slept in the night that ended on the morning of `day`, in [0, 1].

    A pure function of its arguments (no state, no clock): a seasonal wave, worse nights
    before weekend mornings (Friday and Saturday nights), noise and a rare bad night. The
    generator derives the night's sleep and readiness scores from it, so another generator
    (e.g. chess results) can use the same number to give a later analysis real signal.

    Args:
        name: The person.
        day: The `day` of the night's `long_sleep` (the morning it ended).
        seed: The generator seed (`generate_person`'s default is 7).
    """
    rng = random.Random(f"oura-night|{seed}|{name}|{day.isoformat()}")
    season = 0.06 * math.sin(2 * math.pi * (day.timetuple().tm_yday / 365.25))
    weekend = -0.12 if day.weekday() in (5, 6) else 0.0
    value = 0.66 + season + weekend + rng.gauss(0.0, 0.13)
    if rng.random() < 0.06:
        value -= 0.3  # a bad night now and then
    return round(min(1.0, max(0.0, value)), 4)


def _uid(*parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, "|".join(str(p) for p in parts)))


def _clamp(value: float, low: int = 1, high: int = 100) -> int:
    return int(min(high, max(low, round(value))))


def _local(moment: datetime, zone: ZoneInfo) -> str:
    """`2024-10-10T01:01:59+02:00`: the instant in the person's zone, seconds precision."""
    return moment.astimezone(zone).replace(microsecond=0).isoformat()


def _local_ms(moment: datetime, zone: ZoneInfo) -> str:
    """`2024-10-10T01:01:59.000+02:00`: the sample-series timestamp format."""
    return moment.astimezone(zone).isoformat(timespec="milliseconds")


def _midnight(day: date, zone: ZoneInfo, hour: int = 0) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=zone)


def _days(start: date, end: date) -> Iterator[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


class _Person:
    """Generates one person's documents day by day (each day from its own seeded RNG)."""

    def __init__(self, name: str, seed: int, zone: ZoneInfo) -> None:
        self.name = name
        self.seed = seed
        self.zone = zone
        self.docs: dict[str, list[dict[str, Any]]] = {name: [] for name in DAY_ENDPOINTS}
        self.heartrate: list[tuple[int, int, str]] = []

    def rng(self, day: date, what: str) -> random.Random:
        return random.Random(f"oura|{self.seed}|{self.name}|{day.isoformat()}|{what}")

    # -- sleep -----------------------------------------------------------------------------

    def sleep_period(
        self,
        rng: random.Random,
        day: date,
        start: datetime,
        seconds: int,
        kind: str,
        period: int,
        quality: float,
    ) -> dict[str, Any]:
        """One `/sleep` document (shape of the recordings, key for key)."""
        zone = self.zone
        seconds -= seconds % 30
        end = start + timedelta(seconds=seconds)
        long = kind == "long_sleep"
        efficiency = (
            _clamp(72 + 24 * quality + rng.gauss(0, 3), 50, 99) if long else rng.randint(3, 80)
        )
        total = int(seconds * efficiency / 100) // 30 * 30
        latency = (int(2400 - 2000 * quality + rng.gauss(0, 120)) // 30 * 30) if long else 0
        latency = max(0, min(latency, seconds - total))
        deep = int(total * (0.1 + 0.1 * quality)) // 30 * 30
        rem = int(total * (0.17 + 0.07 * quality)) // 30 * 30
        light = total - deep - rem
        slots = math.ceil(seconds / 300)
        has_series = long or seconds >= 1800
        base_hr = 58 - 6 * quality + rng.gauss(0, 1.5)
        hr_items: list[float | None] = []
        hrv_items: list[float | None] = []
        for i in range(max(1, seconds // 300)):
            dip = 6 * math.sin(math.pi * i / max(1, seconds // 300))
            hr_items.append(float(round(base_hr + 8 - dip + rng.gauss(0, 1.5))))
            hrv_items.append(float(max(5, round(30 + 40 * quality + dip * 2 + rng.gauss(0, 6)))))
        if has_series and len(hr_items) > 3:
            hr_items[0] = hrv_items[0] = None  # the ring settles in: the first slot is empty
        phases = rng.choices("1234", weights=(deep + 1, light + 1, rem + 1, 300), k=slots)
        for i in range(slots):
            if i * 300 < latency or i == slots - 1:
                phases[i] = "4"
        movement = "".join(
            rng.choices("1234", weights=(70, 18 - 8 * quality, 8, 4), k=math.ceil(seconds / 30))
        )
        numbers = [v for v in hr_items if v is not None]
        readiness_contributors = self.readiness_contributors(rng, quality)
        return {
            "id": _uid(self.name, "sleep", day, period, kind),
            "average_breath": round(13.5 + rng.uniform(0, 2.5) * 2) / 2 if long else 15.0,
            "average_heart_rate": round(sum(numbers) / len(numbers), 3) if numbers else 60.0,
            "average_hrv": int(30 + 40 * quality + rng.gauss(0, 4)) if has_series else None,
            "awake_time": seconds - total,
            "bedtime_end": _local(end, zone),
            "bedtime_start": _local(start, zone),
            "day": day.isoformat(),
            "deep_sleep_duration": deep,
            "efficiency": efficiency,
            "heart_rate": (
                {"interval": 300.0, "items": hr_items, "timestamp": _local_ms(start, zone)}
                if has_series
                else None
            ),
            "hrv": (
                {"interval": 300.0, "items": hrv_items, "timestamp": _local_ms(start, zone)}
                if has_series
                else None
            ),
            "latency": latency,
            "light_sleep_duration": light,
            "low_battery_alert": False,
            "lowest_heart_rate": int(min(numbers) if numbers else base_hr),
            "movement_30_sec": movement,
            "period": period,
            "readiness": {
                "contributors": readiness_contributors,
                "score": self.readiness_score(readiness_contributors),
                "temperature_deviation": round(rng.gauss(0, 0.25), 2) if long else None,
                "temperature_trend_deviation": round(rng.gauss(0, 0.15), 2),
            },
            "readiness_score_delta": 0 if long else (rng.randint(0, 6) if has_series else None),
            "rem_sleep_duration": rem,
            "restless_periods": int(seconds / 100 * (1.2 - quality) * rng.uniform(0.6, 1.0)),
            "sleep_phase_5_min": "".join(phases),
            "sleep_score_delta": 0 if long else (rng.randint(0, 6) if has_series else None),
            "sleep_algorithm_version": "v2",
            "time_in_bed": seconds,
            "total_sleep_duration": total,
            "type": kind,
        }

    @staticmethod
    def readiness_contributors(rng: random.Random, quality: float) -> dict[str, int | None]:
        return {
            "activity_balance": _clamp(80 + rng.gauss(0, 8)),
            "body_temperature": _clamp(92 + rng.gauss(0, 6)),
            "hrv_balance": _clamp(60 + 30 * quality + rng.gauss(0, 8)),
            "previous_day_activity": _clamp(82 + rng.gauss(0, 10)),
            "previous_night": _clamp(35 + 60 * quality + rng.gauss(0, 5)),
            "recovery_index": _clamp(30 + 60 * quality + rng.gauss(0, 10)),
            "resting_heart_rate": _clamp(70 + 25 * quality + rng.gauss(0, 5)),
            "sleep_balance": _clamp(75 + 20 * quality + rng.gauss(0, 5)),
        }

    @staticmethod
    def readiness_score(contributors: dict[str, int | None]) -> int:
        values = [v for v in contributors.values() if v is not None]
        return _clamp(sum(values) / len(values) - 4)

    def night(self, day: date) -> list[tuple[datetime, datetime, str]]:
        """The sleep documents whose `day` is `day`; returns (start, end, kind) of each."""
        rng = self.rng(day, "night")
        quality = night_quality(self.name, day, self.seed)
        zone = self.zone
        evening = day - timedelta(days=1)
        # Bedtime drifts later on bad nights and before weekends.
        minutes = 23 * 60 + 10 + rng.gauss(0, 35) + (1 - quality) * 60
        if day.weekday() in (5, 6):
            minutes += 50
        bed_local = _midnight(evening, zone) + timedelta(minutes=minutes)
        # Through UTC, so a night across a DST change keeps its real length.
        bed = bed_local.astimezone(UTC)
        seconds = int((6.2 + 2.2 * quality + rng.gauss(0, 0.4)) * 3600 + rng.randint(0, 29))
        periods: list[tuple[datetime, int, str]] = [(bed, seconds, "long_sleep")]
        draw = rng.random()
        if draw < 0.06:  # dozing off on the sofa before bed
            late = bed - timedelta(minutes=rng.randint(90, 180))
            periods.append((late, rng.randint(15, 40) * 60, "late_nap"))
        if rng.random() < 0.22:  # an afternoon nap
            nap = _midnight(day, zone, 14).astimezone(UTC) + timedelta(minutes=rng.randint(0, 150))
            periods.append((nap, rng.randint(15, 70) * 60, "sleep"))
        if rng.random() < 0.03:
            rest = _midnight(day, zone, 18).astimezone(UTC) + timedelta(minutes=rng.randint(0, 60))
            periods.append((rest, rng.randint(30, 100) * 60, "rest"))
        periods.sort()
        out = []
        for index, (start, length, kind) in enumerate(periods):
            doc = self.sleep_period(rng, day, start, length, kind, index, quality)
            self.docs["sleep"].append(doc)
            out.append((start, start + timedelta(seconds=doc["time_in_bed"]), kind))
        self.daily_sleep(rng, day, quality)
        self.sleep_time(rng, day, quality)
        return out

    def daily_sleep(self, rng: random.Random, day: date, quality: float) -> None:
        contributors = {
            "deep_sleep": _clamp(40 + 55 * quality + rng.gauss(0, 8)),
            "efficiency": _clamp(70 + 28 * quality + rng.gauss(0, 4)),
            "latency": _clamp(50 + 48 * quality + rng.gauss(0, 8)),
            "rem_sleep": _clamp(45 + 50 * quality + rng.gauss(0, 10)),
            "restfulness": _clamp(45 + 40 * quality + rng.gauss(0, 8)),
            "timing": _clamp(30 + 60 * quality + rng.gauss(0, 15)),
            "total_sleep": _clamp(45 + 52 * quality + rng.gauss(0, 6)),
        }
        self.docs["daily_sleep"].append(
            {
                "id": _uid(self.name, "daily_sleep", day),
                "contributors": contributors,
                "day": day.isoformat(),
                "score": _clamp(42 + 52 * quality + rng.gauss(0, 2.5)),
                "timestamp": _local(_midnight(day, self.zone), self.zone),
            }
        )
        readiness = self.readiness_contributors(rng, quality)
        if rng.random() < 0.2:
            readiness["hrv_balance"] = None  # too few nights to compare, as often recorded
        trend = round(rng.gauss(0, 0.15), 2)
        self.docs["daily_readiness"].append(
            {
                "id": _uid(self.name, "daily_readiness", day),
                "contributors": readiness,
                "day": day.isoformat(),
                "score": self.readiness_score(readiness),
                "temperature_deviation": round(rng.gauss(0, 0.25), 2),
                "temperature_trend_deviation": trend if rng.random() > 0.04 else None,
                "timestamp": _local(_midnight(day, self.zone), self.zone),
            }
        )
        self.docs["daily_spo2"].append(
            {
                "id": _uid(self.name, "daily_spo2", day),
                "day": day.isoformat(),
                "spo2_percentage": {"average": round(96.2 + 2 * quality + rng.gauss(0, 0.4), 3)},
                "breathing_disturbance_index": int(max(0, 20 - 14 * quality + rng.gauss(0, 3))),
            }
        )

    def sleep_time(self, rng: random.Random, day: date, quality: float) -> None:
        if rng.random() < 0.25:
            return  # not every day gets a recommendation
        optimal = None
        status = "only_recommended_found"
        if quality > 0.7 and rng.random() < 0.5:
            offset = int(_midnight(day, self.zone).utcoffset().total_seconds())  # type: ignore[union-attr]
            start = -3600 + rng.randint(-4, 4) * 900
            optimal = {"day_tz": offset, "end_offset": start + 3600, "start_offset": start}
            status = "optimal_found"
        recommendation = "follow_optimal_bedtime" if optimal else "earlier_bedtime"
        self.docs["sleep_time"].append(
            {
                "id": _uid(self.name, "sleep_time", day),
                "day": day.isoformat(),
                "optimal_bedtime": optimal,
                "recommendation": recommendation,
                "status": status,
            }
        )

    # -- the waking day --------------------------------------------------------------------

    def daytime(self, day: date, sleeps: list[tuple[datetime, datetime, str]]) -> None:
        rng = self.rng(day, "day")
        zone = self.zone
        quality = night_quality(self.name, day, self.seed)
        workouts: list[tuple[datetime, datetime]] = []
        for index in range(rng.choices((0, 1, 2), weights=(45, 40, 15))[0]):
            activity = rng.choices(("walking", "running", "cycling"), weights=(70, 20, 10))[0]
            start = _midnight(day, zone, 8).astimezone(UTC) + timedelta(
                minutes=rng.randint(0, 11 * 60) + 360 * index
            )
            minutes = rng.randint(12, 75)
            end = start + timedelta(minutes=minutes)
            workouts.append((start, end))
            per_minute = {"walking": 4.2, "running": 11.0, "cycling": 8.0}[activity]
            distance = minutes * {"walking": 85.0, "running": 170.0, "cycling": 330.0}[activity]
            self.docs["workout"].append(
                {
                    "id": _uid(self.name, "workout", day, index),
                    "activity": activity,
                    "calories": round(minutes * per_minute * rng.uniform(0.85, 1.15), 3),
                    "day": day.isoformat(),
                    "distance": round(distance * rng.uniform(0.8, 1.2), 4)
                    if rng.random() < 0.5
                    else None,
                    "end_datetime": _local(end, zone),
                    "intensity": "easy"
                    if activity == "walking"
                    else rng.choice(("moderate", "hard")),
                    "label": None,
                    "source": rng.choices(
                        ("confirmed", "autodetected", "manual", "workout_heart_rate"),
                        weights=(70, 20, 5, 5),
                    )[0],
                    "start_datetime": _local(start, zone),
                }
            )
        self.activity(rng, day, quality, workouts)
        self.heart_rate(rng, day, sleeps, workouts)
        self.stress_and_resilience(rng, day, quality)
        if rng.random() < 0.15:
            self.session(rng, day)
        if rng.random() < 0.1:
            moment = _midnight(day, zone, 19).astimezone(UTC) + timedelta(
                seconds=rng.randint(0, 4 * 3600)
            )
            self.docs["enhanced_tag"].append(
                {
                    "id": _uid(self.name, "enhanced_tag", day),
                    "tag_type_code": rng.choice(_TAG_CODES),
                    "start_time": _local(moment, zone),
                    "end_time": None,
                    "start_day": day.isoformat(),
                    "end_day": None,
                    "comment": "",
                    "custom_name": None,
                }
            )
        if day.toordinal() % 7 == 0:
            self.docs["vO2_max"].append(
                {
                    "id": _uid(self.name, "vO2_max", day),
                    "day": day.isoformat(),
                    "timestamp": _local(_midnight(day, zone, 9), zone),
                    "vo2_max": round(41 + rng.gauss(0, 1.2)),
                }
            )
        self.docs["daily_cardiovascular_age"].append(
            {"day": day.isoformat(), "vascular_age": round(36 + rng.gauss(0, 1.5))}
        )
        if day.toordinal() % 41 == 0:  # now and then a sick day or two
            self.rest_mode(rng, day)

    def activity(
        self,
        rng: random.Random,
        day: date,
        quality: float,
        workouts: list[tuple[datetime, datetime]],
    ) -> None:
        zone = self.zone
        begin = _midnight(day, zone, 4).astimezone(UTC)  # Oura's activity day starts at 04:00
        moving = set()
        for start, stop in workouts:
            first = int((start - begin).total_seconds() // 60)
            moving.update(
                range(max(0, first), min(1440, first + int((stop - start).seconds // 60)))
            )
        # MET in tenths, so every item is an exact one-decimal float. 04:00-07:00 and
        # 23:00-04:00 local are the night's 0.9; the waking hours wander in 15-minute levels.
        noise = rng.randbytes(1440)
        levels = [max(9, int(rng.gauss(15, 5))) for _ in range(96)]
        tenths = [9] * 1440
        for minute in range(180, 1140):
            tenths[minute] = max(9, levels[minute // 15] - 3 + noise[minute] % 6)
        for minute in moving:
            tenths[minute] = 40 + noise[minute] * 50 // 256
        mets = [t / 10 for t in tenths]
        classes: list[str] = []
        for slot in range(288):
            chunk = mets[slot * 5 : slot * 5 + 5]
            peak = max(chunk)
            classes.append("1" if peak < 1.0 else "2" if peak < 1.8 else "3" if peak < 3.0 else "4")
        high = sum(1 for t in tenths if t >= 60)
        medium = sum(1 for t in tenths if 30 <= t < 60)
        low = sum(1 for t in tenths if 15 <= t < 30)
        sedentary = sum(1 for t in tenths if 10 <= t < 15)
        resting = 1440 - high - medium - low - sedentary
        non_wear = rng.choice((0, 0, 0, 60, 300))
        steps = int(low * 40 + medium * 95 + high * 150 + rng.randint(0, 1500))
        active_calories = int(low * 1.8 + medium * 5.5 + high * 9)
        target_meters = 9000
        walking = int(steps * 0.78)
        contributors = {
            "meet_daily_targets": _clamp(60 + rng.gauss(0, 20)),
            "move_every_hour": _clamp(85 + rng.gauss(0, 10)),
            "recovery_time": _clamp(70 + 30 * quality),
            "stay_active": _clamp(55 + rng.gauss(0, 15)),
            "training_frequency": _clamp(70 + rng.gauss(0, 20)),
            "training_volume": _clamp(75 + rng.gauss(0, 20)),
        }
        self.docs["daily_activity"].append(
            {
                "id": _uid(self.name, "daily_activity", day),
                "class_5_min": "".join(classes),
                "score": _clamp(sum(contributors.values()) / 6),
                "active_calories": active_calories,
                "average_met_minutes": round(sum(tenths) / 14400, 3),
                "contributors": contributors,
                "equivalent_walking_distance": walking,
                "high_activity_met_minutes": int(high * 7),
                "high_activity_time": high * 60,
                "inactivity_alerts": rng.choice((0, 0, 0, 1, 2)),
                "low_activity_met_minutes": int(low * 2),
                "low_activity_time": low * 60,
                "medium_activity_met_minutes": int(medium * 4.5),
                "medium_activity_time": medium * 60,
                "met": {"interval": 60.0, "items": mets, "timestamp": _local_ms(begin, zone)},
                "meters_to_target": target_meters - walking,
                "non_wear_time": non_wear,
                "resting_time": resting * 60,
                "sedentary_met_minutes": int(sedentary * 1.2),
                "sedentary_time": sedentary * 60,
                "steps": steps,
                "target_calories": 500,
                "target_meters": target_meters,
                "total_calories": 1650 + active_calories,
                "day": day.isoformat(),
                "timestamp": _local(begin, zone),
            }
        )

    def heart_rate(
        self,
        rng: random.Random,
        day: date,
        sleeps: list[tuple[datetime, datetime, str]],
        workouts: list[tuple[datetime, datetime]],
    ) -> None:
        """One sample per 5 minutes over the local day, tagged by what the person was doing.

        Samples are kept compact, `(epoch seconds, bpm, source)`; `generate_person` turns
        them into API rows.
        """
        begin = int(_midnight(day, self.zone).timestamp())
        end = int(_midnight(day + timedelta(days=1), self.zone).timestamp())
        asleep = [(int(a.timestamp()), int(b.timestamp()), kind) for a, b, kind in sleeps]
        training = [(int(a.timestamp()), int(b.timestamp())) for a, b in workouts]
        means = {"awake": (74, 7), "rest": (60, 4), "sleep": (55, 3), "workout": (122, 14)}
        append = self.heartrate.append
        noise = rng.randbytes(2 * ((end - begin) // 300 + 1))
        for index, slot in enumerate(range(begin, end, 300)):
            moment = slot + noise[2 * index] % 60
            source = "awake"
            for start, stop, kind in asleep:
                if start <= moment < stop:
                    source = "rest" if kind == "rest" or moment < start + 1200 else "sleep"
            for start, stop in training:
                if start <= moment < stop:
                    source = "workout"
            mean, spread = means[source]
            # Two bytes' worth of triangular noise: cheap, and spread like the recordings.
            jitter = (noise[2 * index + 1] + noise[2 * index] - 255) / 128
            append((moment, round(mean + jitter * spread * 1.5), source))

    def stress_and_resilience(self, rng: random.Random, day: date, quality: float) -> None:
        stress = int(max(0, rng.gauss(2.5 - 2 * quality, 1.2)) * 3600) // 900 * 900
        recovery = int(max(0, rng.gauss(1 + 3 * quality, 1.0)) * 3600) // 900 * 900
        summary = (
            "stressful"
            if stress > recovery + 1800
            else "restored"
            if recovery > stress + 7200
            else "normal"
        )
        self.docs["daily_stress"].append(
            {
                "id": _uid(self.name, "daily_stress", day),
                "day": day.isoformat(),
                "stress_high": stress,
                "recovery_high": recovery,
                "day_summary": summary if rng.random() > 0.01 else None,
            }
        )
        sleep_recovery = round(min(100.0, max(0.0, 25 + 50 * quality + rng.gauss(0, 5))), 1)
        daytime = round(min(100.0, max(0.0, 30 + 30 * quality + rng.gauss(0, 8))), 1)
        strain = round(min(100.0, max(0.0, 50 - 20 * quality + rng.gauss(0, 8))), 1)
        average = (sleep_recovery + daytime + (100 - strain)) / 3
        level = (
            "limited"
            if average < 45
            else "adequate"
            if average < 58
            else "solid"
            if average < 70
            else "strong"
            if average < 80
            else "exceptional"
        )
        self.docs["daily_resilience"].append(
            {
                "id": _uid(self.name, "daily_resilience", day),
                "day": day.isoformat(),
                "contributors": {
                    "sleep_recovery": sleep_recovery,
                    "daytime_recovery": daytime,
                    "stress": strain,
                },
                "level": level,
            }
        )

    def session(self, rng: random.Random, day: date) -> None:
        zone = self.zone
        start = _midnight(day, zone, 12).astimezone(UTC) + timedelta(
            seconds=rng.randint(0, 9 * 3600)
        )
        seconds = rng.randint(3, 15) * 60
        end = start + timedelta(seconds=seconds)
        count = seconds // 5
        with_hr = rng.random() < 0.6

        def series(low: float, high: float) -> dict[str, Any]:
            return {
                "interval": 5.0,
                "items": [float(round(rng.uniform(low, high))) for _ in range(count)],
                "timestamp": _local_ms(start, zone),
            }

        self.docs["session"].append(
            {
                "id": _uid(self.name, "session", day),
                "day": day.isoformat(),
                "start_datetime": _local(start, zone),
                "end_datetime": _local(end, zone),
                "type": rng.choice(_SESSION_TYPES),
                "heart_rate": series(55, 75) if with_hr else None,
                "heart_rate_variability": series(20, 80) if with_hr else None,
                "mood": rng.choice(_MOODS),
                "motion_count": series(0, 40),
            }
        )

    def rest_mode(self, rng: random.Random, day: date) -> None:
        zone = self.zone
        start = _midnight(day, zone, 9).astimezone(UTC) + timedelta(
            seconds=rng.randint(0, 3 * 3600)
        )
        end = start + timedelta(days=rng.randint(0, 2), hours=rng.randint(1, 10))
        episodes = [
            {
                "tags": rng.sample(
                    ["tag_generic_cold", "tag_generic_headache", "tag_generic_pain"], 1
                ),
                "timestamp": _local_ms(start, zone),
            }
        ]
        self.docs["rest_mode_period"].append(
            {
                "id": _uid(self.name, "rest_mode_period", day),
                "end_day": end.astimezone(zone).date().isoformat(),
                "end_time": _local(end, zone),
                "episodes": episodes,
                "start_day": day.isoformat(),
                "start_time": _local(start, zone),
            }
        )


def heartrate_rows(samples: list[tuple[int, int, str]]) -> list[dict[str, Any]]:
    """Compact `(epoch seconds, bpm, source)` samples as API rows (`timestamp` in UTC)."""
    return [
        {"bpm": bpm, "source": source, "timestamp": _utc(epoch)} for epoch, bpm, source in samples
    ]


def _utc(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def generate_person(
    name: str,
    start: date,
    end: date,
    seed: int = 7,
    tz: str = "Europe/Madrid",
    compact_heartrate: bool = False,
) -> dict[str, Any]:
    """A fictional person's Oura data for every day from `start` to `end` (inclusive).

    Args:
        name: The person (keys every random draw; also the e-mail's local part).
        start: First day.
        end: Last day (the demo passes today).
        seed: Generator seed.
        tz: IANA zone for local times (offsets follow its daylight-saving rules).
        compact_heartrate: Return heart-rate samples as `(epoch seconds, bpm, source)` tuples
            instead of API rows (about a third of the memory; `OuraStore` takes either).

    Returns:
        `{"personal_info": {...}, "heartrate": [samples], <endpoint>: [documents], ...}` with
        every name in `DAY_ENDPOINTS`; documents sorted as the API sends them. `tag` (the
        deprecated endpoint) is empty.

    Raises:
        ValueError: `end` is before `start`.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    zone = ZoneInfo(tz)
    person = _Person(name, seed, zone)
    nights = {day: person.night(day) for day in _days(start, end)}
    # The night that ends the morning after `end` starts on its evening (its heart rate
    # belongs to `end`); its documents are not part of the range, so they are thrown away.
    after = end + timedelta(days=1)
    nights[after] = _Person(name, seed, zone).night(after)
    for day in _days(start, end):
        person.daytime(day, nights[day] + nights[day + timedelta(days=1)])
    setup = _midnight(start - timedelta(days=30), zone, 18)
    person.docs["ring_configuration"].append(
        {
            "id": _uid(name, "ring_configuration", 1),
            "color": "stealth_black",
            "design": "heritage",
            "firmware_version": "2.9.32",
            "hardware_type": "gen3",
            "set_up_at": setup.astimezone(UTC).isoformat(),
            "size": 9,
        }
    )
    base = random.Random(f"oura|{seed}|{name}|personal")
    result: dict[str, Any] = {
        "personal_info": {
            "id": _uid(name, "personal_info"),
            "age": base.randint(24, 48),
            "weight": round(base.uniform(58, 88), 1),
            "height": round(base.uniform(1.6, 1.92), 2),
            "biological_sex": base.choice(("female", "male")),
            "email": f"{name.lower()}@example.com",
        },
        "heartrate": person.heartrate if compact_heartrate else heartrate_rows(person.heartrate),
    }
    result.update(person.docs)
    return result
