# ruff: noqa: E501 - recorded messages are kept whole, one per line, to compare exactly
"""Golden values of every streaming detector, recorded from ``main`` before the shared
state code moved into ``base.py`` (streamdedupe39): alarms of ``update`` and of
``update_many`` with a save/load mid-stream, digests of ``to_dict()`` mid-stream and at
the end, the refusal of NaN, and the messages of tampered states. A refactor that changes
any saved state, alarm or message fails here.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from prodml.drift.streaming import (
    ADWIN,
    CUSUM,
    DDM,
    EDDM,
    HDDM_A,
    HDDM_W,
    KSWIN,
    PageHinkley,
    StreamingDetector,
)
from prodml.errors import ProdMLError


def streams(domain):
    rng = np.random.default_rng(39)
    if domain == "binary":
        return {
            "abrupt": np.concatenate([rng.random(3000) < 0.1, rng.random(3000) < 0.35]).astype(
                float
            ),
            "gradual": (rng.random(6000) < np.linspace(0.05, 0.5, 6000)).astype(float),
        }
    if domain == "unit":
        return {
            "abrupt": np.concatenate([rng.beta(2, 8, 3000), rng.beta(5, 5, 3000)]),
            "gradual": np.clip(rng.normal(np.linspace(0.2, 0.7, 6000), 0.1), 0, 1),
            "binary": (rng.random(6000) < np.repeat([0.1, 0.4, 0.1], 2000)).astype(float),
        }
    return {
        "abrupt": np.concatenate(
            [rng.normal(0, 1, 3000), rng.normal(1.5, 1, 3000), rng.normal(-1, 2, 3000)]
        ),
        "gradual": rng.normal(np.linspace(0, 3, 6000), 1),
        "binary": (rng.random(6000) < np.repeat([0.1, 0.5], 3000)).astype(float),
    }


CASES = {
    "ADWIN": ADWIN,
    "CUSUM": CUSUM,
    "CUSUM_fixed": lambda: CUSUM(target=0.0, sigma=1.0),
    "PageHinkley": PageHinkley,
    "PageHinkley_up": lambda: PageHinkley(mode="up", threshold=10.0),
    "DDM": DDM,
    "EDDM": EDDM,
    "HDDM_A": HDDM_A,
    "HDDM_A_two": lambda: HDDM_A(two_sided_test=True),
    "HDDM_W": HDDM_W,
    "KSWIN": KSWIN,
}


def digest(d):
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


def msg(fn):
    try:
        fn()
    except ProdMLError as e:
        return f"{type(e).__name__}: {e}"
    return None


def record(name):
    out = {}
    for sname, s in streams(CASES[name]().domain).items():
        loop = CASES[name]()
        a_loop, mid_loop = [], None
        for i, x in enumerate(s.tolist()):
            if loop.update(x):
                a_loop.append(i)
            if i == len(s) // 2 - 1:
                mid_loop = digest(loop.to_dict())
        many = CASES[name]()
        h = len(s) // 2
        a1 = many.update_many(s[:h]).tolist()
        mid_many = digest(many.to_dict())
        restored = StreamingDetector.from_dict(json.loads(json.dumps(many.to_dict())))
        a2 = (restored.update_many(s[h:]) + h).tolist()
        before = restored.to_dict()
        nan1 = msg(lambda det=restored: det.update(float("nan")))
        nan2 = msg(lambda det=restored: det.update_many(np.array([0.0, np.nan])))
        unchanged = restored.to_dict() == before
        out[sname] = {
            "alarms": a_loop,
            "many": a1 + a2,
            "mid": mid_loop,
            "mid_many": mid_many,
            "end": digest(loop.to_dict()),
            "end_restored": digest(restored.to_dict()),
            "nan": [nan1, nan2],
            "unchanged": unchanged,
            "drift": loop.drift_detected,
            "warning": getattr(loop, "warning_detected", None),
        }
    det = CASES[name]()
    det.update_many(streams(det.domain)["abrupt"][:500])
    st = det.to_dict()
    bad = {}
    for key in st["state"]:
        for val in (-1, 1e300, "x", None):
            t = json.loads(json.dumps(st))
            t["state"][key] = val
            bad[f"{key}={val!r}"] = msg(lambda t=t: StreamingDetector.from_dict(t))
    t = json.loads(json.dumps(st))
    t["state"]["extra"] = 1
    bad["extra"] = msg(lambda t=t: StreamingDetector.from_dict(t))
    out["tampered"] = bad
    out["domain"] = msg(lambda: CASES[name]().update(2.0 if det.domain != "real" else 1e101))
    return out


# Recorded on main (de48047) with record() above.
GOLDEN = json.loads(
    r"""
{
"ADWIN": {
"abrupt": {
"alarms": [
3039,
6015
],
"drift": false,
"end": "1e96485569c1c00b4866d78cba7ff51aadfcbea0859c11f6ec7a6d23437dc1a1",
"end_restored": "1e96485569c1c00b4866d78cba7ff51aadfcbea0859c11f6ec7a6d23437dc1a1",
"many": [
3039,
6015
],
"mid": "6bedc8b3ca1e97c3ab4ec26a9ab5c8cc9541545a9331f7b93a16ba5bbc550b8a",
"mid_many": "6bedc8b3ca1e97c3ab4ec26a9ab5c8cc9541545a9331f7b93a16ba5bbc550b8a",
"nan": [
"DriftError: ADWIN takes finite numbers within +-1e100; got nan.",
"DriftError: ADWIN takes finite numbers within +-1e100; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": null
},
"binary": {
"alarms": [
3071
],
"drift": false,
"end": "a108ca834f3af222086edd88071f9756fc848e7779bd337a4eec806030e50d34",
"end_restored": "a108ca834f3af222086edd88071f9756fc848e7779bd337a4eec806030e50d34",
"many": [
3071
],
"mid": "e36cc6cd15cf6598d8af750f12a681ed8b137806ff7140e48dc4e6d064a31e3a",
"mid_many": "e36cc6cd15cf6598d8af750f12a681ed8b137806ff7140e48dc4e6d064a31e3a",
"nan": [
"DriftError: ADWIN takes finite numbers within +-1e100; got nan.",
"DriftError: ADWIN takes finite numbers within +-1e100; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": null
},
"domain": "DriftError: ADWIN takes finite numbers within +-1e100; got 1e+101.",
"gradual": {
"alarms": [
991,
1983,
3199,
4287,
5407
],
"drift": false,
"end": "4de9e6df9d7fa60e55714d9ab79c019bb10ad604cfc41b105df08728ea2dbc2e",
"end_restored": "4de9e6df9d7fa60e55714d9ab79c019bb10ad604cfc41b105df08728ea2dbc2e",
"many": [
991,
1983,
3199,
4287,
5407
],
"mid": "8c624d2265802960c5df70011861fb7b0b4c2a87b5035c3808b229840ed9a484",
"mid_many": "8c624d2265802960c5df70011861fb7b0b4c2a87b5035c3808b229840ed9a484",
"nan": [
"DriftError: ADWIN takes finite numbers within +-1e100; got nan.",
"DriftError: ADWIN takes finite numbers within +-1e100; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": null
},
"tampered": {
"buckets='x'": "StateError: ADWIN state field 'state.buckets' must be a list. Got 'x'.",
"buckets=-1": "StateError: ADWIN state field 'state.buckets' must be a list. Got -1.",
"buckets=1e+300": "StateError: ADWIN state field 'state.buckets' must be a list. Got 1e+300.",
"buckets=None": "StateError: ADWIN state field 'state.buckets' must be a list. Got None.",
"drift='x'": "StateError: ADWIN state field 'state.drift' must be true or false. Got 'x'.",
"drift=-1": "StateError: ADWIN state field 'state.drift' must be true or false. Got -1.",
"drift=1e+300": "StateError: ADWIN state field 'state.drift' must be true or false. Got 1e+300.",
"drift=None": "StateError: ADWIN state field 'state.drift' must be true or false. Got None.",
"extra": "StateError: ADWIN state field 'state.extra' must be absent (not a known field). Got 1.",
"k='x'": "StateError: ADWIN state field 'state.k' must be an int in [0, 4611686018427387904]. Got 'x'.",
"k=-1": "StateError: ADWIN state field 'state.k' must be an int in [0, 4611686018427387904]. Got -1.",
"k=1e+300": "StateError: ADWIN state field 'state.k' must be an int in [0, 4611686018427387904]. Got 1e+300.",
"k=None": "StateError: ADWIN state field 'state.k' must be an int in [0, 4611686018427387904]. Got None.",
"m2='x'": "StateError: ADWIN state field 'state.m2' must be a finite number in [0, 1.92e+203]. Got 'x'.",
"m2=-1": "StateError: ADWIN state field 'state.m2' must be a finite number in [0, 1.92e+203]. Got -1.",
"m2=1e+300": "StateError: ADWIN state field 'state.m2' must be a finite number in [0, 1.92e+203]. Got 1e+300.",
"m2=None": "StateError: ADWIN state field 'state.m2' must be a finite number in [0, 1.92e+203]. Got None.",
"n='x'": "StateError: ADWIN state field 'state.n' must be an int in [0, 31]. Got 'x'.",
"n=-1": "StateError: ADWIN state field 'state.n' must be an int in [0, 31]. Got -1.",
"n=1e+300": "StateError: ADWIN state field 'state.n' must be an int in [0, 31]. Got 1e+300.",
"n=None": "StateError: ADWIN state field 'state.n' must be an int in [0, 31]. Got None.",
"q='x'": "StateError: ADWIN state field 'state.q' must be a finite number in [0, 8.00002e+201]. Got 'x'.",
"q=-1": "StateError: ADWIN state field 'state.q' must be a finite number in [0, 8.00002e+201]. Got -1.",
"q=1e+300": "StateError: ADWIN state field 'state.q' must be a finite number in [0, 8.00002e+201]. Got 1e+300.",
"q=None": "StateError: ADWIN state field 'state.q' must be a finite number in [0, 8.00002e+201]. Got None.",
"s='x'": "StateError: ADWIN state field 'state.s' must be a finite number in [-4e+101, 4e+101]. Got 'x'.",
"s=-1": null,
"s=1e+300": "StateError: ADWIN state field 'state.s' must be a finite number in [-4e+101, 4e+101]. Got 1e+300.",
"s=None": "StateError: ADWIN state field 'state.s' must be a finite number in [-4e+101, 4e+101]. Got None.",
"u='x'": "StateError: ADWIN state field 'state.u' must be a finite number in [-4.8e+102, 4.8e+102]. Got 'x'.",
"u=-1": null,
"u=1e+300": "StateError: ADWIN state field 'state.u' must be a finite number in [-4.8e+102, 4.8e+102]. Got 1e+300.",
"u=None": "StateError: ADWIN state field 'state.u' must be a finite number in [-4.8e+102, 4.8e+102]. Got None.",
"x0='x'": "StateError: ADWIN state field 'state.x0' must be a finite number in [-1e+100, 1e+100]. Got 'x'.",
"x0=-1": null,
"x0=1e+300": "StateError: ADWIN state field 'state.x0' must be a finite number in [-1e+100, 1e+100]. Got 1e+300.",
"x0=None": "StateError: ADWIN state field 'state.x0' must be a finite number in [-1e+100, 1e+100]. Got None."
}
},
"CUSUM": {
"abrupt": {
"alarms": [
3025,
6014
],
"drift": false,
"end": "33c37ef841ffbb3e72f8ce5dcbbbb80e645af3cedcef6d86aeb036341ae1abf2",
"end_restored": "33c37ef841ffbb3e72f8ce5dcbbbb80e645af3cedcef6d86aeb036341ae1abf2",
"many": [
3025,
6014
],
"mid": "bd2a41575242b68882b747ef920920fc63410ebb4a664403cbfb2bc3a2477310",
"mid_many": "bd2a41575242b68882b747ef920920fc63410ebb4a664403cbfb2bc3a2477310",
"nan": [
"DriftError: CUSUM takes finite numbers within +-1e100; got nan.",
"DriftError: CUSUM takes finite numbers within +-1e100; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": null
},
"binary": {
"alarms": [
3028
],
"drift": false,
"end": "4c77dc24ef21d8cbec66821669b3dfb80db557298f9cd484a95fb036cad25e47",
"end_restored": "4c77dc24ef21d8cbec66821669b3dfb80db557298f9cd484a95fb036cad25e47",
"many": [
3028
],
"mid": "43b2dfd0bb232350aa330014c063f595c0b182297036ee8d1930d816d7557d6e",
"mid_many": "43b2dfd0bb232350aa330014c063f595c0b182297036ee8d1930d816d7557d6e",
"nan": [
"DriftError: CUSUM takes finite numbers within +-1e100; got nan.",
"DriftError: CUSUM takes finite numbers within +-1e100; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": null
},
"domain": "DriftError: CUSUM takes finite numbers within +-1e100; got 1e+101.",
"gradual": {
"alarms": [
1575,
3165,
4590,
5942
],
"drift": false,
"end": "7c1e20c63e861b7928d6aff75a814bd8a5e8306096a62a1b01bdcd336685e4a5",
"end_restored": "7c1e20c63e861b7928d6aff75a814bd8a5e8306096a62a1b01bdcd336685e4a5",
"many": [
1575,
3165,
4590,
5942
],
"mid": "3b031eaa0886329ff61f7cf30a82ec99c15af76e225bfe9e3a58b6ef0e9785dc",
"mid_many": "3b031eaa0886329ff61f7cf30a82ec99c15af76e225bfe9e3a58b6ef0e9785dc",
"nan": [
"DriftError: CUSUM takes finite numbers within +-1e100; got nan.",
"DriftError: CUSUM takes finite numbers within +-1e100; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": null
},
"tampered": {
"drift='x'": "StateError: CUSUM state field 'state.drift' must be true or false. Got 'x'.",
"drift=-1": "StateError: CUSUM state field 'state.drift' must be true or false. Got -1.",
"drift=1e+300": "StateError: CUSUM state field 'state.drift' must be true or false. Got 1e+300.",
"drift=None": "StateError: CUSUM state field 'state.drift' must be true or false. Got None.",
"extra": "StateError: CUSUM state field 'state.extra' must be absent (not a known field). Got 1.",
"hi='x'": "StateError: CUSUM state field 'state.hi' must be a finite number. Got 'x'.",
"hi=-1": null,
"hi=1e+300": null,
"hi=None": "StateError: CUSUM state field 'state.hi' must be a finite number. Got None.",
"lo='x'": "StateError: CUSUM state field 'state.lo' must be a finite number. Got 'x'.",
"lo=-1": null,
"lo=1e+300": null,
"lo=None": "StateError: CUSUM state field 'state.lo' must be a finite number. Got None.",
"max_lo='x'": "StateError: CUSUM state field 'state.max_lo' must be a finite number. Got 'x'.",
"max_lo=-1": "StateError: CUSUM state field 'state.max_lo' must be >= min(lo, 0). Got -1.",
"max_lo=1e+300": null,
"max_lo=None": "StateError: CUSUM state field 'state.max_lo' must be a finite number. Got None.",
"min_hi='x'": "StateError: CUSUM state field 'state.min_hi' must be a finite number. Got 'x'.",
"min_hi=-1": null,
"min_hi=1e+300": "StateError: CUSUM state field 'state.min_hi' must be <= max(hi, 0). Got 1e+300.",
"min_hi=None": "StateError: CUSUM state field 'state.min_hi' must be a finite number. Got None.",
"n='x'": "StateError: CUSUM state field 'state.n' must be an int in [0, 4503599627370496]. Got 'x'.",
"n=-1": "StateError: CUSUM state field 'state.n' must be an int in [0, 4503599627370496]. Got -1.",
"n=1e+300": "StateError: CUSUM state field 'state.n' must be an int in [0, 4503599627370496]. Got 1e+300.",
"n=None": "StateError: CUSUM state field 'state.n' must be an int in [0, 4503599627370496]. Got None.",
"q='x'": "StateError: CUSUM state field 'state.q' must be a finite number. Got 'x'.",
"q=-1": "StateError: CUSUM state field 'state.q' must be a sum of n squares >= 0. Got -1.",
"q=1e+300": "StateError: CUSUM state field 'state.q' must be a sum of n squares >= 0. Got 1e+300.",
"q=None": "StateError: CUSUM state field 'state.q' must be a finite number. Got None.",
"s='x'": "StateError: CUSUM state field 'state.s' must be a finite number. Got 'x'.",
"s=-1": null,
"s=1e+300": "StateError: CUSUM state field 'state.s' must be a sum of n differences of values. Got 1e+300.",
"s=None": "StateError: CUSUM state field 'state.s' must be a finite number. Got None.",
"x0='x'": "StateError: CUSUM state field 'state.x0' must be a finite number. Got 'x'.",
"x0=-1": null,
"x0=1e+300": "StateError: CUSUM state field 'state.x0' must be a value within +-1e+100. Got 1e+300.",
"x0=None": "StateError: CUSUM state field 'state.x0' must be a finite number. Got None."
}
},
"CUSUM_fixed": {
"abrupt": {
"alarms": [
3025,
3080,
3141,
3198,
3259,
3315,
3370,
3418,
3473,
3527,
3580,
3631,
3688,
3738,
3794,
3845,
3901,
3953,
4009,
4064,
4120,
4173,
4234,
4292,
4346,
4400,
4451,
4507,
4565,
4626,
4684,
4734,
4791,
4844,
4897,
4958,
5010,
5067,
5124,
5183,
5233,
5290,
5347,
5401,
5458,
5515,
5575,
5628,
5683,
5737,
5800,
5853,
5910,
5964,
6029,
6097,
6163,
6257,
6330,
6393,
6448,
6519,
6590,
6640,
6699,
6755,
6823,
6886,
6967,
7054,
7111,
7167,
7251,
7314,
7395,
7473,
7550,
7618,
7677,
7734,
7801,
7866,
7926,
7973,
8029,
8120,
8194,
8255,
8332,
8420,
8493,
8562,
8627,
8695,
8744,
8815,
8896,
8952
],
"drift": false,
"end": "7190296a165980bf8dde253e386d247c2da54e56b5bb330b1764989335dd5a02",
"end_restored": "7190296a165980bf8dde253e386d247c2da54e56b5bb330b1764989335dd5a02",
"many": [
3025,
3080,
3141,
3198,
3259,
3315,
3370,
3418,
3473,
3527,
3580,
3631,
3688,
3738,
3794,
3845,
3901,
3953,
4009,
4064,
4120,
4173,
4234,
4292,
4346,
4400,
4451,
4507,
4565,
4626,
4684,
4734,
4791,
4844,
4897,
4958,
5010,
5067,
5124,
5183,
5233,
5290,
5347,
5401,
5458,
5515,
5575,
5628,
5683,
5737,
5800,
5853,
5910,
5964,
6029,
6097,
6163,
6257,
6330,
6393,
6448,
6519,
6590,
6640,
6699,
6755,
6823,
6886,
6967,
7054,
7111,
7167,
7251,
7314,
7395,
7473,
7550,
7618,
7677,
7734,
7801,
7866,
7926,
7973,
8029,
8120,
8194,
8255,
8332,
8420,
8493,
8562,
8627,
8695,
8744,
8815,
8896,
8952
],
"mid": "e29f6625caf1cf9e101375de45fdb7585d6e0a775c8a38c61a2ac493c3cac076",
"mid_many": "e29f6625caf1cf9e101375de45fdb7585d6e0a775c8a38c61a2ac493c3cac076",
"nan": [
"DriftError: CUSUM takes finite numbers within +-1e100; got nan.",
"DriftError: CUSUM takes finite numbers within +-1e100; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": null
},
"binary": {
"alarms": [
3135,
3290,
3483,
3694,
3844,
3992,
4109,
4341,
4465,
4616,
4806,
4937,
5141,
5305,
5467,
5592,
5731,
5901
],
"drift": false,
"end": "b0ec39c12e4f553904737df6572a338fee214e78ae2c12793607bfb2ee678d61",
"end_restored": "b0ec39c12e4f553904737df6572a338fee214e78ae2c12793607bfb2ee678d61",
"many": [
3135,
3290,
3483,
3694,
3844,
3992,
4109,
4341,
4465,
4616,
4806,
4937,
5141,
5305,
5467,
5592,
5731,
5901
],
"mid": "643fd7437e1f6dcb005c345c180972a5c4cf8019f621ac482a2316c2124b329d",
"mid_many": "643fd7437e1f6dcb005c345c180972a5c4cf8019f621ac482a2316c2124b329d",
"nan": [
"DriftError: CUSUM takes finite numbers within +-1e100; got nan.",
"DriftError: CUSUM takes finite numbers within +-1e100; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": null
},
"domain": "DriftError: CUSUM takes finite numbers within +-1e100; got 1e+101.",
"gradual": {
"alarms": [
775,
936,
1078,
1194,
1288,
1375,
1472,
1564,
1649,
1725,
1789,
1872,
1932,
2010,
2064,
2147,
2214,
2284,
2347,
2404,
2460,
2516,
2574,
2630,
2694,
2754,
2806,
2867,
2924,
2981,
3035,
3090,
3146,
3200,
3248,
3300,
3350,
3398,
3452,
3504,
3553,
3608,
3659,
3711,
3758,
3812,
3864,
3914,
3967,
4016,
4063,
4109,
4155,
4202,
4247,
4293,
4340,
4386,
4432,
4483,
4526,
4572,
4617,
4663,
4707,
4753,
4799,
4844,
4891,
4934,
4976,
5019,
5064,
5108,
5154,
5197,
5241,
5284,
5324,
5366,
5409,
5452,
5495,
5538,
5581,
5623,
5664,
5707,
5748,
5791,
5833,
5873,
5916,
5957,
5998
],
"drift": false,
"end": "36f38dd6702f0e3b313784f769fab3a5301523b2a4ccf223021cdc2ce352eaec",
"end_restored": "36f38dd6702f0e3b313784f769fab3a5301523b2a4ccf223021cdc2ce352eaec",
"many": [
775,
936,
1078,
1194,
1288,
1375,
1472,
1564,
1649,
1725,
1789,
1872,
1932,
2010,
2064,
2147,
2214,
2284,
2347,
2404,
2460,
2516,
2574,
2630,
2694,
2754,
2806,
2867,
2924,
2981,
3035,
3090,
3146,
3200,
3248,
3300,
3350,
3398,
3452,
3504,
3553,
3608,
3659,
3711,
3758,
3812,
3864,
3914,
3967,
4016,
4063,
4109,
4155,
4202,
4247,
4293,
4340,
4386,
4432,
4483,
4526,
4572,
4617,
4663,
4707,
4753,
4799,
4844,
4891,
4934,
4976,
5019,
5064,
5108,
5154,
5197,
5241,
5284,
5324,
5366,
5409,
5452,
5495,
5538,
5581,
5623,
5664,
5707,
5748,
5791,
5833,
5873,
5916,
5957,
5998
],
"mid": "5360b32184e45ca58d044206c3972bd97ecbf2d7c0c778730511bcad6ce6c234",
"mid_many": "5360b32184e45ca58d044206c3972bd97ecbf2d7c0c778730511bcad6ce6c234",
"nan": [
"DriftError: CUSUM takes finite numbers within +-1e100; got nan.",
"DriftError: CUSUM takes finite numbers within +-1e100; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": null
},
"tampered": {
"drift='x'": "StateError: CUSUM state field 'state.drift' must be true or false. Got 'x'.",
"drift=-1": "StateError: CUSUM state field 'state.drift' must be true or false. Got -1.",
"drift=1e+300": "StateError: CUSUM state field 'state.drift' must be true or false. Got 1e+300.",
"drift=None": "StateError: CUSUM state field 'state.drift' must be true or false. Got None.",
"extra": "StateError: CUSUM state field 'state.extra' must be absent (not a known field). Got 1.",
"hi='x'": "StateError: CUSUM state field 'state.hi' must be a finite number. Got 'x'.",
"hi=-1": null,
"hi=1e+300": null,
"hi=None": "StateError: CUSUM state field 'state.hi' must be a finite number. Got None.",
"lo='x'": "StateError: CUSUM state field 'state.lo' must be a finite number. Got 'x'.",
"lo=-1": null,
"lo=1e+300": null,
"lo=None": "StateError: CUSUM state field 'state.lo' must be a finite number. Got None.",
"max_lo='x'": "StateError: CUSUM state field 'state.max_lo' must be a finite number. Got 'x'.",
"max_lo=-1": "StateError: CUSUM state field 'state.max_lo' must be >= min(lo, 0). Got -1.",
"max_lo=1e+300": null,
"max_lo=None": "StateError: CUSUM state field 'state.max_lo' must be a finite number. Got None.",
"min_hi='x'": "StateError: CUSUM state field 'state.min_hi' must be a finite number. Got 'x'.",
"min_hi=-1": null,
"min_hi=1e+300": "StateError: CUSUM state field 'state.min_hi' must be <= max(hi, 0). Got 1e+300.",
"min_hi=None": "StateError: CUSUM state field 'state.min_hi' must be a finite number. Got None.",
"n='x'": "StateError: CUSUM state field 'state.n' must be an int in [0, 4503599627370496]. Got 'x'.",
"n=-1": "StateError: CUSUM state field 'state.n' must be an int in [0, 4503599627370496]. Got -1.",
"n=1e+300": "StateError: CUSUM state field 'state.n' must be an int in [0, 4503599627370496]. Got 1e+300.",
"n=None": "StateError: CUSUM state field 'state.n' must be an int in [0, 4503599627370496]. Got None.",
"q='x'": "StateError: CUSUM state field 'state.q' must be a finite number. Got 'x'.",
"q=-1": "StateError: CUSUM state field 'state.q' must be a sum of n squares >= 0. Got -1.",
"q=1e+300": "StateError: CUSUM state field 'state.q' must be a sum of n squares >= 0. Got 1e+300.",
"q=None": "StateError: CUSUM state field 'state.q' must be a finite number. Got None.",
"s='x'": "StateError: CUSUM state field 'state.s' must be a finite number. Got 'x'.",
"s=-1": null,
"s=1e+300": "StateError: CUSUM state field 'state.s' must be a sum of n differences of values. Got 1e+300.",
"s=None": "StateError: CUSUM state field 'state.s' must be a finite number. Got None.",
"x0='x'": "StateError: CUSUM state field 'state.x0' must be a finite number. Got 'x'.",
"x0=-1": null,
"x0=1e+300": "StateError: CUSUM state field 'state.x0' must be a value within +-1e+100. Got 1e+300.",
"x0=None": "StateError: CUSUM state field 'state.x0' must be a finite number. Got None."
}
},
"DDM": {
"abrupt": {
"alarms": [
3444
],
"drift": false,
"end": "ee7c329f9dcdea4a26a20f69b77042587bac2a0ab5937459750444920ce56e8d",
"end_restored": "ee7c329f9dcdea4a26a20f69b77042587bac2a0ab5937459750444920ce56e8d",
"many": [
3444
],
"mid": "cbaf4ab15dfc16a8e35537f8c9849f88acb139cd30639c5e2afd415ae91dd874",
"mid_many": "cbaf4ab15dfc16a8e35537f8c9849f88acb139cd30639c5e2afd415ae91dd874",
"nan": [
"DriftError: DDM takes 0/1 error indicators; got nan.",
"DriftError: DDM takes 0/1 error indicators; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": false
},
"domain": "DriftError: DDM takes 0/1 error indicators; got 2.0.",
"gradual": {
"alarms": [
896,
2592,
5055
],
"drift": false,
"end": "c67f4d983a2d0f27acaf8e305f4cb5168e6b717cc7ad836d048eabf23fe92b8e",
"end_restored": "c67f4d983a2d0f27acaf8e305f4cb5168e6b717cc7ad836d048eabf23fe92b8e",
"many": [
896,
2592,
5055
],
"mid": "7fb910370fbc14a1abcf35973354fa85817a098d47bdb6e374de767dcba6250e",
"mid_many": "7fb910370fbc14a1abcf35973354fa85817a098d47bdb6e374de767dcba6250e",
"nan": [
"DriftError: DDM takes 0/1 error indicators; got nan.",
"DriftError: DDM takes 0/1 error indicators; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": false
},
"tampered": {
"drift='x'": "StateError: DDM state field 'state.drift' must be true or false. Got 'x'.",
"drift=-1": "StateError: DDM state field 'state.drift' must be true or false. Got -1.",
"drift=1e+300": "StateError: DDM state field 'state.drift' must be true or false. Got 1e+300.",
"drift=None": "StateError: DDM state field 'state.drift' must be true or false. Got None.",
"errors='x'": "StateError: DDM state field 'state.errors' must be an int in [0, 500]. Got 'x'.",
"errors=-1": "StateError: DDM state field 'state.errors' must be an int in [0, 500]. Got -1.",
"errors=1e+300": "StateError: DDM state field 'state.errors' must be an int in [0, 500]. Got 1e+300.",
"errors=None": "StateError: DDM state field 'state.errors' must be an int in [0, 500]. Got None.",
"extra": "StateError: DDM state field 'state.extra' must be absent (not a known field). Got 1.",
"n='x'": "StateError: DDM state field 'state.n' must be an int in [0, 4503599627370496]. Got 'x'.",
"n=-1": "StateError: DDM state field 'state.n' must be an int in [0, 4503599627370496]. Got -1.",
"n=1e+300": "StateError: DDM state field 'state.n' must be an int in [0, 4503599627370496]. Got 1e+300.",
"n=None": "StateError: DDM state field 'state.n' must be an int in [0, 4503599627370496]. Got None.",
"p_min='x'": "StateError: DDM state field 'state.p_min' must be a finite number in [0, 1]. Got 'x'.",
"p_min=-1": "StateError: DDM state field 'state.p_min' must be a finite number in [0, 1]. Got -1.",
"p_min=1e+300": "StateError: DDM state field 'state.p_min' must be a finite number in [0, 1]. Got 1e+300.",
"p_min=None": "StateError: DDM state field 'state.p_min' must be a finite number in [0, 1]. Got None.",
"ps_min='x'": "StateError: DDM state field 'state.ps_min' must be a finite number in [0, 2]. Got 'x'.",
"ps_min=-1": "StateError: DDM state field 'state.ps_min' must be a finite number in [0, 2]. Got -1.",
"ps_min=1e+300": "StateError: DDM state field 'state.ps_min' must be a finite number in [0, 2]. Got 1e+300.",
"ps_min=None": null,
"s_min='x'": "StateError: DDM state field 'state.s_min' must be a finite number in [0, 1]. Got 'x'.",
"s_min=-1": "StateError: DDM state field 'state.s_min' must be a finite number in [0, 1]. Got -1.",
"s_min=1e+300": "StateError: DDM state field 'state.s_min' must be a finite number in [0, 1]. Got 1e+300.",
"s_min=None": "StateError: DDM state field 'state.s_min' must be a finite number in [0, 1]. Got None.",
"warning='x'": "StateError: DDM state field 'state.warning' must be true or false. Got 'x'.",
"warning=-1": "StateError: DDM state field 'state.warning' must be true or false. Got -1.",
"warning=1e+300": "StateError: DDM state field 'state.warning' must be true or false. Got 1e+300.",
"warning=None": "StateError: DDM state field 'state.warning' must be true or false. Got None."
}
},
"EDDM": {
"abrupt": {
"alarms": [],
"drift": false,
"end": "9699d5485a8e75904d580da26c94e80654d7876ce31cec74612017bcb2746422",
"end_restored": "9699d5485a8e75904d580da26c94e80654d7876ce31cec74612017bcb2746422",
"many": [],
"mid": "ee94a9cad3c64da5f26c0da7a89b61b1152fcaa76e58fec0d29f4f38017f6b08",
"mid_many": "ee94a9cad3c64da5f26c0da7a89b61b1152fcaa76e58fec0d29f4f38017f6b08",
"nan": [
"DriftError: EDDM takes 0/1 error indicators; got nan.",
"DriftError: EDDM takes 0/1 error indicators; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": false
},
"domain": "DriftError: EDDM takes 0/1 error indicators; got 2.0.",
"gradual": {
"alarms": [],
"drift": false,
"end": "6ad3f02a0f2ca80549b61952f798de60cd47216e1377a5014a736bf499a44791",
"end_restored": "6ad3f02a0f2ca80549b61952f798de60cd47216e1377a5014a736bf499a44791",
"many": [],
"mid": "22812bcaa4f06c6134d4d16d60df5192ac40afbfece2445143d67f3bc89ff847",
"mid_many": "22812bcaa4f06c6134d4d16d60df5192ac40afbfece2445143d67f3bc89ff847",
"nan": [
"DriftError: EDDM takes 0/1 error indicators; got nan.",
"DriftError: EDDM takes 0/1 error indicators; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": false
},
"tampered": {
"drift='x'": "StateError: EDDM state field 'state.drift' must be true or false. Got 'x'.",
"drift=-1": "StateError: EDDM state field 'state.drift' must be true or false. Got -1.",
"drift=1e+300": "StateError: EDDM state field 'state.drift' must be true or false. Got 1e+300.",
"drift=None": "StateError: EDDM state field 'state.drift' must be true or false. Got None.",
"errors='x'": "StateError: EDDM state field 'state.errors' must be an int in [0, 486]. Got 'x'.",
"errors=-1": "StateError: EDDM state field 'state.errors' must be an int in [0, 486]. Got -1.",
"errors=1e+300": "StateError: EDDM state field 'state.errors' must be an int in [0, 486]. Got 1e+300.",
"errors=None": "StateError: EDDM state field 'state.errors' must be an int in [0, 486]. Got None.",
"extra": "StateError: EDDM state field 'state.extra' must be absent (not a known field). Got 1.",
"last='x'": "StateError: EDDM state field 'state.last' must be an int in [0, 500]. Got 'x'.",
"last=-1": "StateError: EDDM state field 'state.last' must be an int in [0, 500]. Got -1.",
"last=1e+300": "StateError: EDDM state field 'state.last' must be an int in [0, 500]. Got 1e+300.",
"last=None": "StateError: EDDM state field 'state.last' must be an int in [0, 500]. Got None.",
"m_max='x'": "StateError: EDDM state field 'state.m_max' must be a finite number in [-1, 1500]. Got 'x'.",
"m_max=-1": null,
"m_max=1e+300": "StateError: EDDM state field 'state.m_max' must be a finite number in [-1, 1500]. Got 1e+300.",
"m_max=None": "StateError: EDDM state field 'state.m_max' must be a finite number in [-1, 1500]. Got None.",
"n='x'": "StateError: EDDM state field 'state.n' must be an int in [0, 4503599627370496]. Got 'x'.",
"n=-1": "StateError: EDDM state field 'state.n' must be an int in [0, 4503599627370496]. Got -1.",
"n=1e+300": "StateError: EDDM state field 'state.n' must be an int in [0, 4503599627370496]. Got 1e+300.",
"n=None": "StateError: EDDM state field 'state.n' must be an int in [0, 4503599627370496]. Got None.",
"sum='x'": "StateError: EDDM state field 'state.sum' must be an int in [0, 500]. Got 'x'.",
"sum=-1": "StateError: EDDM state field 'state.sum' must be an int in [0, 500]. Got -1.",
"sum=1e+300": "StateError: EDDM state field 'state.sum' must be an int in [0, 500]. Got 1e+300.",
"sum=None": "StateError: EDDM state field 'state.sum' must be an int in [0, 500]. Got None.",
"sum_sq='x'": "StateError: EDDM state field 'state.sum_sq' must be an int in [0, 236196]. Got 'x'.",
"sum_sq=-1": "StateError: EDDM state field 'state.sum_sq' must be an int in [0, 236196]. Got -1.",
"sum_sq=1e+300": "StateError: EDDM state field 'state.sum_sq' must be an int in [0, 236196]. Got 1e+300.",
"sum_sq=None": "StateError: EDDM state field 'state.sum_sq' must be an int in [0, 236196]. Got None.",
"warning='x'": "StateError: EDDM state field 'state.warning' must be true or false. Got 'x'.",
"warning=-1": "StateError: EDDM state field 'state.warning' must be true or false. Got -1.",
"warning=1e+300": "StateError: EDDM state field 'state.warning' must be true or false. Got 1e+300.",
"warning=None": "StateError: EDDM state field 'state.warning' must be true or false. Got None."
}
},
"HDDM_A": {
"abrupt": {
"alarms": [
3105
],
"drift": false,
"end": "7848c45077d66d970b9e66b8ad51c0ac6c6c2870a6ec44e4c963d163247d5409",
"end_restored": "7848c45077d66d970b9e66b8ad51c0ac6c6c2870a6ec44e4c963d163247d5409",
"many": [
3105
],
"mid": "9a83caf27aef6b8f81ed993316aefea3a4c42f6ce8822f0ca4df42afa2f1992a",
"mid_many": "9a83caf27aef6b8f81ed993316aefea3a4c42f6ce8822f0ca4df42afa2f1992a",
"nan": [
"DriftError: HDDM_A takes numbers in [0, 1]; got nan.",
"DriftError: HDDM_A takes numbers in [0, 1]; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": false
},
"binary": {
"alarms": [
2149
],
"drift": false,
"end": "bf76910d0acceb381d59226429f3bdc6fe8384b3ee3697056b65fd440e8cb424",
"end_restored": "bf76910d0acceb381d59226429f3bdc6fe8384b3ee3697056b65fd440e8cb424",
"many": [
2149
],
"mid": "f24547177fa96cd18a6963de14daafe38e0de6595a4ca2a5dc26fc5f8ded2c74",
"mid_many": "f24547177fa96cd18a6963de14daafe38e0de6595a4ca2a5dc26fc5f8ded2c74",
"nan": [
"DriftError: HDDM_A takes numbers in [0, 1]; got nan.",
"DriftError: HDDM_A takes numbers in [0, 1]; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": false
},
"domain": "DriftError: HDDM_A takes numbers in [0, 1]; got 2.0.",
"gradual": {
"alarms": [
2580,
5315
],
"drift": false,
"end": "0a7095d31ce366f2413258e3cb1894bf0e54d54363ede2fe945b36a9d67e19f2",
"end_restored": "0a7095d31ce366f2413258e3cb1894bf0e54d54363ede2fe945b36a9d67e19f2",
"many": [
2580,
5315
],
"mid": "1f83bd10c93b2aa56669fa24a6f7a21dd8a9ea6e2c5bf67b205be156b4b1d29a",
"mid_many": "1f83bd10c93b2aa56669fa24a6f7a21dd8a9ea6e2c5bf67b205be156b4b1d29a",
"nan": [
"DriftError: HDDM_A takes numbers in [0, 1]; got nan.",
"DriftError: HDDM_A takes numbers in [0, 1]; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": false
},
"tampered": {
"drift='x'": "StateError: HDDM_A state field 'state.drift' must be true or false. Got 'x'.",
"drift=-1": "StateError: HDDM_A state field 'state.drift' must be true or false. Got -1.",
"drift=1e+300": "StateError: HDDM_A state field 'state.drift' must be true or false. Got 1e+300.",
"drift=None": "StateError: HDDM_A state field 'state.drift' must be true or false. Got None.",
"extra": "StateError: HDDM_A state field 'state.extra' must be absent (not a known field). Got 1.",
"hi='x'": "StateError: HDDM_A state field 'state.hi' must be a list. Got 'x'.",
"hi=-1": "StateError: HDDM_A state field 'state.hi' must be a list. Got -1.",
"hi=1e+300": "StateError: HDDM_A state field 'state.hi' must be a list. Got 1e+300.",
"hi=None": "StateError: HDDM_A state field 'state.hi' must be a list. Got None.",
"lo='x'": "StateError: HDDM_A state field 'state.lo' must be a list. Got 'x'.",
"lo=-1": "StateError: HDDM_A state field 'state.lo' must be a list. Got -1.",
"lo=1e+300": "StateError: HDDM_A state field 'state.lo' must be a list. Got 1e+300.",
"lo=None": "StateError: HDDM_A state field 'state.lo' must be a list. Got None.",
"n='x'": "StateError: HDDM_A state field 'state.n' must be an int in [0, 4503599627370496]. Got 'x'.",
"n=-1": "StateError: HDDM_A state field 'state.n' must be an int in [0, 4503599627370496]. Got -1.",
"n=1e+300": "StateError: HDDM_A state field 'state.n' must be an int in [0, 4503599627370496]. Got 1e+300.",
"n=None": "StateError: HDDM_A state field 'state.n' must be an int in [0, 4503599627370496]. Got None.",
"total='x'": "StateError: HDDM_A state field 'state.total' must be a finite number in [0, 500]. Got 'x'.",
"total=-1": "StateError: HDDM_A state field 'state.total' must be a finite number in [0, 500]. Got -1.",
"total=1e+300": "StateError: HDDM_A state field 'state.total' must be a finite number in [0, 500]. Got 1e+300.",
"total=None": "StateError: HDDM_A state field 'state.total' must be a finite number in [0, 500]. Got None.",
"warning='x'": "StateError: HDDM_A state field 'state.warning' must be true or false. Got 'x'.",
"warning=-1": "StateError: HDDM_A state field 'state.warning' must be true or false. Got -1.",
"warning=1e+300": "StateError: HDDM_A state field 'state.warning' must be true or false. Got 1e+300.",
"warning=None": "StateError: HDDM_A state field 'state.warning' must be true or false. Got None."
}
},
"HDDM_A_two": {
"abrupt": {
"alarms": [
3105
],
"drift": false,
"end": "41e58600c38a983665ee68b2e14967e066258af99e80e8040163f418995a3847",
"end_restored": "41e58600c38a983665ee68b2e14967e066258af99e80e8040163f418995a3847",
"many": [
3105
],
"mid": "21e719aeaa773c5ae30cd454df2d0550481ad1668ed63590822b31b577f86692",
"mid_many": "21e719aeaa773c5ae30cd454df2d0550481ad1668ed63590822b31b577f86692",
"nan": [
"DriftError: HDDM_A takes numbers in [0, 1]; got nan.",
"DriftError: HDDM_A takes numbers in [0, 1]; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": false
},
"binary": {
"alarms": [
2149,
4138
],
"drift": false,
"end": "5807d725e3cbfd7e04fc1a1732ecc969dd107831d9c5274c98f4f4b835be24f6",
"end_restored": "5807d725e3cbfd7e04fc1a1732ecc969dd107831d9c5274c98f4f4b835be24f6",
"many": [
2149,
4138
],
"mid": "9a4ae62111260f7d1a6f27b223ad0c0355947021653fb6f775892e2d43d2cbcb",
"mid_many": "9a4ae62111260f7d1a6f27b223ad0c0355947021653fb6f775892e2d43d2cbcb",
"nan": [
"DriftError: HDDM_A takes numbers in [0, 1]; got nan.",
"DriftError: HDDM_A takes numbers in [0, 1]; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": false
},
"domain": "DriftError: HDDM_A takes numbers in [0, 1]; got 2.0.",
"gradual": {
"alarms": [
2580,
5315
],
"drift": false,
"end": "34f4866f80b5a9cfc670bd44043608bda783e5753813713061b50a28bf8095a5",
"end_restored": "34f4866f80b5a9cfc670bd44043608bda783e5753813713061b50a28bf8095a5",
"many": [
2580,
5315
],
"mid": "eeba523d3406eb674845fde5284eff0c2252f514a12561ff806560984d8bbab0",
"mid_many": "eeba523d3406eb674845fde5284eff0c2252f514a12561ff806560984d8bbab0",
"nan": [
"DriftError: HDDM_A takes numbers in [0, 1]; got nan.",
"DriftError: HDDM_A takes numbers in [0, 1]; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": false
},
"tampered": {
"drift='x'": "StateError: HDDM_A state field 'state.drift' must be true or false. Got 'x'.",
"drift=-1": "StateError: HDDM_A state field 'state.drift' must be true or false. Got -1.",
"drift=1e+300": "StateError: HDDM_A state field 'state.drift' must be true or false. Got 1e+300.",
"drift=None": "StateError: HDDM_A state field 'state.drift' must be true or false. Got None.",
"extra": "StateError: HDDM_A state field 'state.extra' must be absent (not a known field). Got 1.",
"hi='x'": "StateError: HDDM_A state field 'state.hi' must be a list. Got 'x'.",
"hi=-1": "StateError: HDDM_A state field 'state.hi' must be a list. Got -1.",
"hi=1e+300": "StateError: HDDM_A state field 'state.hi' must be a list. Got 1e+300.",
"hi=None": "StateError: HDDM_A state field 'state.hi' must be a list. Got None.",
"lo='x'": "StateError: HDDM_A state field 'state.lo' must be a list. Got 'x'.",
"lo=-1": "StateError: HDDM_A state field 'state.lo' must be a list. Got -1.",
"lo=1e+300": "StateError: HDDM_A state field 'state.lo' must be a list. Got 1e+300.",
"lo=None": "StateError: HDDM_A state field 'state.lo' must be a list. Got None.",
"n='x'": "StateError: HDDM_A state field 'state.n' must be an int in [0, 4503599627370496]. Got 'x'.",
"n=-1": "StateError: HDDM_A state field 'state.n' must be an int in [0, 4503599627370496]. Got -1.",
"n=1e+300": "StateError: HDDM_A state field 'state.n' must be an int in [0, 4503599627370496]. Got 1e+300.",
"n=None": "StateError: HDDM_A state field 'state.n' must be an int in [0, 4503599627370496]. Got None.",
"total='x'": "StateError: HDDM_A state field 'state.total' must be a finite number in [0, 500]. Got 'x'.",
"total=-1": "StateError: HDDM_A state field 'state.total' must be a finite number in [0, 500]. Got -1.",
"total=1e+300": "StateError: HDDM_A state field 'state.total' must be a finite number in [0, 500]. Got 1e+300.",
"total=None": "StateError: HDDM_A state field 'state.total' must be a finite number in [0, 500]. Got None.",
"warning='x'": "StateError: HDDM_A state field 'state.warning' must be true or false. Got 'x'.",
"warning=-1": "StateError: HDDM_A state field 'state.warning' must be true or false. Got -1.",
"warning=1e+300": "StateError: HDDM_A state field 'state.warning' must be true or false. Got 1e+300.",
"warning=None": "StateError: HDDM_A state field 'state.warning' must be true or false. Got None."
}
},
"HDDM_W": {
"abrupt": {
"alarms": [],
"drift": false,
"end": "61854192904c40f4d53c8f4f3dc5f081e1f0fa15d50a7d3f31b833850ccde497",
"end_restored": "61854192904c40f4d53c8f4f3dc5f081e1f0fa15d50a7d3f31b833850ccde497",
"many": [],
"mid": "2cdfae41de8031e5704ed50435d7089b6d91d943cc1b63f90b6b3bb431d3f5fa",
"mid_many": "2cdfae41de8031e5704ed50435d7089b6d91d943cc1b63f90b6b3bb431d3f5fa",
"nan": [
"DriftError: HDDM_W takes numbers in [0, 1]; got nan.",
"DriftError: HDDM_W takes numbers in [0, 1]; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": false
},
"binary": {
"alarms": [],
"drift": false,
"end": "56ae3a9e436bfbf212a6d48854387badc0bd1435d62abab63e2d8bdf23dd476b",
"end_restored": "56ae3a9e436bfbf212a6d48854387badc0bd1435d62abab63e2d8bdf23dd476b",
"many": [],
"mid": "668879264772bee9e567d94cebea1bea9e1896860de52eda151b5696427cfd6b",
"mid_many": "668879264772bee9e567d94cebea1bea9e1896860de52eda151b5696427cfd6b",
"nan": [
"DriftError: HDDM_W takes numbers in [0, 1]; got nan.",
"DriftError: HDDM_W takes numbers in [0, 1]; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": false
},
"domain": "DriftError: HDDM_W takes numbers in [0, 1]; got 2.0.",
"gradual": {
"alarms": [],
"drift": false,
"end": "5e528512721e40aec61bdbb2e2b33591f126945981becc498350bc42aba7afe8",
"end_restored": "5e528512721e40aec61bdbb2e2b33591f126945981becc498350bc42aba7afe8",
"many": [],
"mid": "6d5a0564f5aedecf38dd7a38c280b5e7788c91e4df705447eae8297e305ed4aa",
"mid_many": "6d5a0564f5aedecf38dd7a38c280b5e7788c91e4df705447eae8297e305ed4aa",
"nan": [
"DriftError: HDDM_W takes numbers in [0, 1]; got nan.",
"DriftError: HDDM_W takes numbers in [0, 1]; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": true
},
"tampered": {
"cut_hi='x'": "StateError: HDDM_W state field 'state.cut_hi' must be a finite number. Got 'x'.",
"cut_hi=-1": null,
"cut_hi=1e+300": null,
"cut_hi=None": null,
"cut_lo='x'": "StateError: HDDM_W state field 'state.cut_lo' must be a finite number. Got 'x'.",
"cut_lo=-1": null,
"cut_lo=1e+300": null,
"cut_lo=None": null,
"drift='x'": "StateError: HDDM_W state field 'state.drift' must be true or false. Got 'x'.",
"drift=-1": "StateError: HDDM_W state field 'state.drift' must be true or false. Got -1.",
"drift=1e+300": "StateError: HDDM_W state field 'state.drift' must be true or false. Got 1e+300.",
"drift=None": "StateError: HDDM_W state field 'state.drift' must be true or false. Got None.",
"extra": "StateError: HDDM_W state field 'state.extra' must be absent (not a known field). Got 1.",
"samples='x'": "StateError: HDDM_W state field 'state.samples' must be a list. Got 'x'.",
"samples=-1": "StateError: HDDM_W state field 'state.samples' must be a list. Got -1.",
"samples=1e+300": "StateError: HDDM_W state field 'state.samples' must be a list. Got 1e+300.",
"samples=None": "StateError: HDDM_W state field 'state.samples' must be a list. Got None.",
"warning='x'": "StateError: HDDM_W state field 'state.warning' must be true or false. Got 'x'.",
"warning=-1": "StateError: HDDM_W state field 'state.warning' must be true or false. Got -1.",
"warning=1e+300": "StateError: HDDM_W state field 'state.warning' must be true or false. Got 1e+300.",
"warning=None": "StateError: HDDM_W state field 'state.warning' must be true or false. Got None."
}
},
"KSWIN": {
"abrupt": {
"alarms": [
3062,
6033
],
"drift": false,
"end": "5b683e2884805d088241865c2a9782134d015314bd42ca10474bb4003f2de272",
"end_restored": "5b683e2884805d088241865c2a9782134d015314bd42ca10474bb4003f2de272",
"many": [
3062,
6033
],
"mid": "81668ef4c70e1d704d65ad1060ae30689689580f5c97ab44170a87050c1e35f2",
"mid_many": "81668ef4c70e1d704d65ad1060ae30689689580f5c97ab44170a87050c1e35f2",
"nan": [
"DriftError: KSWIN takes finite numbers within +-1e100; got nan.",
"DriftError: KSWIN takes finite numbers within +-1e100; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": null
},
"binary": {
"alarms": [
3080
],
"drift": false,
"end": "f3bbb526841c4d47be0dbead255e60332ead4f4248f265ab2af9de1f0d97d4db",
"end_restored": "f3bbb526841c4d47be0dbead255e60332ead4f4248f265ab2af9de1f0d97d4db",
"many": [
3080
],
"mid": "75a0d9b8fa327fbddd8970176c9db79d8a8795ad1ff8af125b791b17b2e5668c",
"mid_many": "75a0d9b8fa327fbddd8970176c9db79d8a8795ad1ff8af125b791b17b2e5668c",
"nan": [
"DriftError: KSWIN takes finite numbers within +-1e100; got nan.",
"DriftError: KSWIN takes finite numbers within +-1e100; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": null
},
"domain": "DriftError: KSWIN takes finite numbers within +-1e100; got 1e+101.",
"gradual": {
"alarms": [],
"drift": false,
"end": "a15c03c551c1fd52f3b5da096f4a980090a4c22d824d2472551aa31fc097475e",
"end_restored": "a15c03c551c1fd52f3b5da096f4a980090a4c22d824d2472551aa31fc097475e",
"many": [],
"mid": "0e9481b55cc48613c1333f26aa0f2978aebec92d9058a65b3b8d4e1152b8be28",
"mid_many": "0e9481b55cc48613c1333f26aa0f2978aebec92d9058a65b3b8d4e1152b8be28",
"nan": [
"DriftError: KSWIN takes finite numbers within +-1e100; got nan.",
"DriftError: KSWIN takes finite numbers within +-1e100; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": null
},
"tampered": {
"drift='x'": "StateError: KSWIN state field 'state.drift' must be true or false. Got 'x'.",
"drift=-1": "StateError: KSWIN state field 'state.drift' must be true or false. Got -1.",
"drift=1e+300": "StateError: KSWIN state field 'state.drift' must be true or false. Got 1e+300.",
"drift=None": "StateError: KSWIN state field 'state.drift' must be true or false. Got None.",
"extra": "StateError: KSWIN state field 'state.extra' must be absent (not a known field). Got 1.",
"window='x'": "StateError: KSWIN state field 'state.window' must be a list. Got 'x'.",
"window=-1": "StateError: KSWIN state field 'state.window' must be a list. Got -1.",
"window=1e+300": "StateError: KSWIN state field 'state.window' must be a list. Got 1e+300.",
"window=None": "StateError: KSWIN state field 'state.window' must be a list. Got None."
}
},
"PageHinkley": {
"abrupt": {
"alarms": [
3025,
6014,
6438,
7180,
7993
],
"drift": false,
"end": "5160881d0fb2408a172554fa81b1684e2529c834cbafd26d2c8d41fafe9741ca",
"end_restored": "5160881d0fb2408a172554fa81b1684e2529c834cbafd26d2c8d41fafe9741ca",
"many": [
3025,
6014,
6438,
7180,
7993
],
"mid": "b7e91365857d72a098b1f241a9a63b4249ef0ff3cd9d4fc3bd9234a48031a53b",
"mid_many": "b7e91365857d72a098b1f241a9a63b4249ef0ff3cd9d4fc3bd9234a48031a53b",
"nan": [
"DriftError: PageHinkley takes finite numbers within +-1e100; got nan.",
"DriftError: PageHinkley takes finite numbers within +-1e100; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": null
},
"binary": {
"alarms": [
3221
],
"drift": false,
"end": "0796f07bd823175cb445b7769d3bb673de3748c0f98cb781d0de1d418db21858",
"end_restored": "0796f07bd823175cb445b7769d3bb673de3748c0f98cb781d0de1d418db21858",
"many": [
3221
],
"mid": "2747c69253f30e019171fbe996be87cff95937f1cc79e7198e2c6b42866385d4",
"mid_many": "2747c69253f30e019171fbe996be87cff95937f1cc79e7198e2c6b42866385d4",
"nan": [
"DriftError: PageHinkley takes finite numbers within +-1e100; got nan.",
"DriftError: PageHinkley takes finite numbers within +-1e100; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": null
},
"domain": "DriftError: PageHinkley takes finite numbers within +-1e100; got 1e+101.",
"gradual": {
"alarms": [
1566,
3165,
4583,
5901
],
"drift": false,
"end": "7017742712807b0555b1077d886db4a5afc6a7deb0f40d39a3e6812a7f3d2af0",
"end_restored": "7017742712807b0555b1077d886db4a5afc6a7deb0f40d39a3e6812a7f3d2af0",
"many": [
1566,
3165,
4583,
5901
],
"mid": "d78e8ba534865f30f7eef844d37a6989dc5046421b823e644ad2d7cbcaded593",
"mid_many": "d78e8ba534865f30f7eef844d37a6989dc5046421b823e644ad2d7cbcaded593",
"nan": [
"DriftError: PageHinkley takes finite numbers within +-1e100; got nan.",
"DriftError: PageHinkley takes finite numbers within +-1e100; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": null
},
"tampered": {
"drift='x'": "StateError: PageHinkley state field 'state.drift' must be true or false. Got 'x'.",
"drift=-1": "StateError: PageHinkley state field 'state.drift' must be true or false. Got -1.",
"drift=1e+300": "StateError: PageHinkley state field 'state.drift' must be true or false. Got 1e+300.",
"drift=None": "StateError: PageHinkley state field 'state.drift' must be true or false. Got None.",
"extra": "StateError: PageHinkley state field 'state.extra' must be absent (not a known field). Got 1.",
"hi='x'": "StateError: PageHinkley state field 'state.hi' must be a finite number. Got 'x'.",
"hi=-1": null,
"hi=1e+300": null,
"hi=None": "StateError: PageHinkley state field 'state.hi' must be a finite number. Got None.",
"lo='x'": "StateError: PageHinkley state field 'state.lo' must be a finite number. Got 'x'.",
"lo=-1": null,
"lo=1e+300": null,
"lo=None": "StateError: PageHinkley state field 'state.lo' must be a finite number. Got None.",
"max_lo='x'": "StateError: PageHinkley state field 'state.max_lo' must be a finite number >= 0. Got 'x'.",
"max_lo=-1": "StateError: PageHinkley state field 'state.max_lo' must be a finite number >= 0. Got -1.",
"max_lo=1e+300": null,
"max_lo=None": "StateError: PageHinkley state field 'state.max_lo' must be a finite number >= 0. Got None.",
"min_hi='x'": "StateError: PageHinkley state field 'state.min_hi' must be a finite number <= 0. Got 'x'.",
"min_hi=-1": null,
"min_hi=1e+300": "StateError: PageHinkley state field 'state.min_hi' must be a finite number <= 0. Got 1e+300.",
"min_hi=None": "StateError: PageHinkley state field 'state.min_hi' must be a finite number <= 0. Got None.",
"n='x'": "StateError: PageHinkley state field 'state.n' must be an int in [0, 4503599627370496]. Got 'x'.",
"n=-1": "StateError: PageHinkley state field 'state.n' must be an int in [0, 4503599627370496]. Got -1.",
"n=1e+300": "StateError: PageHinkley state field 'state.n' must be an int in [0, 4503599627370496]. Got 1e+300.",
"n=None": "StateError: PageHinkley state field 'state.n' must be an int in [0, 4503599627370496]. Got None.",
"sum='x'": "StateError: PageHinkley state field 'state.sum' must be a finite number in [-5e+102, 5e+102]. Got 'x'.",
"sum=-1": null,
"sum=1e+300": "StateError: PageHinkley state field 'state.sum' must be a finite number in [-5e+102, 5e+102]. Got 1e+300.",
"sum=None": "StateError: PageHinkley state field 'state.sum' must be a finite number in [-5e+102, 5e+102]. Got None."
}
},
"PageHinkley_up": {
"abrupt": {
"alarms": [
3007,
5094,
5870,
7356,
7387,
7438,
7504,
7537,
7571,
7646,
7757,
7823,
7909,
7939,
8052,
8217,
8303,
8398,
8451,
8519,
8753,
8882,
8919
],
"drift": false,
"end": "142553201bf90a8a126a2e55f3a8abfa605e8cbe84a3bbc9aaa9dbaca4bc6d82",
"end_restored": "142553201bf90a8a126a2e55f3a8abfa605e8cbe84a3bbc9aaa9dbaca4bc6d82",
"many": [
3007,
5094,
5870,
7356,
7387,
7438,
7504,
7537,
7571,
7646,
7757,
7823,
7909,
7939,
8052,
8217,
8303,
8398,
8451,
8519,
8753,
8882,
8919
],
"mid": "b21b9cc97e78223e5b1aef702ef4688fa7ef4406bd0478e6541af574a387c7e1",
"mid_many": "b21b9cc97e78223e5b1aef702ef4688fa7ef4406bd0478e6541af574a387c7e1",
"nan": [
"DriftError: PageHinkley takes finite numbers within +-1e100; got nan.",
"DriftError: PageHinkley takes finite numbers within +-1e100; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": null
},
"binary": {
"alarms": [
3057
],
"drift": false,
"end": "e2dcf060932b902c1f9af62c20de638e617d0a57a886e16cf7bb0b71eb30a780",
"end_restored": "e2dcf060932b902c1f9af62c20de638e617d0a57a886e16cf7bb0b71eb30a780",
"many": [
3057
],
"mid": "01b842009d64f5734f1c539dac5b783b6ef385cd1a1b92420b42c094cfdde4fe",
"mid_many": "01b842009d64f5734f1c539dac5b783b6ef385cd1a1b92420b42c094cfdde4fe",
"nan": [
"DriftError: PageHinkley takes finite numbers within +-1e100; got nan.",
"DriftError: PageHinkley takes finite numbers within +-1e100; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": null
},
"domain": "DriftError: PageHinkley takes finite numbers within +-1e100; got 1e+101.",
"gradual": {
"alarms": [
843,
1477,
1790,
2073,
2641,
3247,
3760,
4531,
5028,
5397,
5875
],
"drift": false,
"end": "64a72965f2a8f12c504cae7731e3b7d91ce0f6f10b8dbbd0ebaa16b04c6ea84c",
"end_restored": "64a72965f2a8f12c504cae7731e3b7d91ce0f6f10b8dbbd0ebaa16b04c6ea84c",
"many": [
843,
1477,
1790,
2073,
2641,
3247,
3760,
4531,
5028,
5397,
5875
],
"mid": "0fa19ea690ba192948a896eb46427943540bc09eae3719a557174a0c7518a7a1",
"mid_many": "0fa19ea690ba192948a896eb46427943540bc09eae3719a557174a0c7518a7a1",
"nan": [
"DriftError: PageHinkley takes finite numbers within +-1e100; got nan.",
"DriftError: PageHinkley takes finite numbers within +-1e100; got np.float64(nan) at position 1."
],
"unchanged": true,
"warning": null
},
"tampered": {
"drift='x'": "StateError: PageHinkley state field 'state.drift' must be true or false. Got 'x'.",
"drift=-1": "StateError: PageHinkley state field 'state.drift' must be true or false. Got -1.",
"drift=1e+300": "StateError: PageHinkley state field 'state.drift' must be true or false. Got 1e+300.",
"drift=None": "StateError: PageHinkley state field 'state.drift' must be true or false. Got None.",
"extra": "StateError: PageHinkley state field 'state.extra' must be absent (not a known field). Got 1.",
"hi='x'": "StateError: PageHinkley state field 'state.hi' must be a finite number. Got 'x'.",
"hi=-1": null,
"hi=1e+300": null,
"hi=None": "StateError: PageHinkley state field 'state.hi' must be a finite number. Got None.",
"lo='x'": "StateError: PageHinkley state field 'state.lo' must be a finite number. Got 'x'.",
"lo=-1": null,
"lo=1e+300": null,
"lo=None": "StateError: PageHinkley state field 'state.lo' must be a finite number. Got None.",
"max_lo='x'": "StateError: PageHinkley state field 'state.max_lo' must be a finite number >= 0. Got 'x'.",
"max_lo=-1": "StateError: PageHinkley state field 'state.max_lo' must be a finite number >= 0. Got -1.",
"max_lo=1e+300": null,
"max_lo=None": "StateError: PageHinkley state field 'state.max_lo' must be a finite number >= 0. Got None.",
"min_hi='x'": "StateError: PageHinkley state field 'state.min_hi' must be a finite number <= 0. Got 'x'.",
"min_hi=-1": null,
"min_hi=1e+300": "StateError: PageHinkley state field 'state.min_hi' must be a finite number <= 0. Got 1e+300.",
"min_hi=None": "StateError: PageHinkley state field 'state.min_hi' must be a finite number <= 0. Got None.",
"n='x'": "StateError: PageHinkley state field 'state.n' must be an int in [0, 4503599627370496]. Got 'x'.",
"n=-1": "StateError: PageHinkley state field 'state.n' must be an int in [0, 4503599627370496]. Got -1.",
"n=1e+300": "StateError: PageHinkley state field 'state.n' must be an int in [0, 4503599627370496]. Got 1e+300.",
"n=None": "StateError: PageHinkley state field 'state.n' must be an int in [0, 4503599627370496]. Got None.",
"sum='x'": "StateError: PageHinkley state field 'state.sum' must be a finite number in [-5e+102, 5e+102]. Got 'x'.",
"sum=-1": null,
"sum=1e+300": "StateError: PageHinkley state field 'state.sum' must be a finite number in [-5e+102, 5e+102]. Got 1e+300.",
"sum=None": "StateError: PageHinkley state field 'state.sum' must be a finite number in [-5e+102, 5e+102]. Got None."
}
}
}
"""
)


@pytest.mark.parametrize("name", sorted(CASES))
def test_detector_matches_main(name: str) -> None:
    got = record(name)
    want = GOLDEN[name]
    for key in sorted(want):
        assert got[key] == want[key], (name, key)
