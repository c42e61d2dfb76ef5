"""Rollout policies: sticky routing, canary, blue-green, shadow, A/B tests and bandits.

Every object here is embeddable decision logic: a service calls it (``route``,
``observe``, ``evaluate``, ``choose``, ``update``) and acts on the answer; nothing here
talks to the network. Every policy's state round-trips through ``to_dict``/``from_dict``
(JSON-safe, versioned), so a restarted service resumes exactly where it stopped.
"""

from __future__ import annotations

from prodml.rollout._abtest import ABTest
from prodml.rollout._bandits import UCB1, EpsilonGreedy
from prodml.rollout._bluegreen import BlueGreen
from prodml.rollout._canary import Canary, Step
from prodml.rollout._decision import Decision
from prodml.rollout._gates import Gate
from prodml.rollout._router import Router
from prodml.rollout._shadow import Shadow, ShadowReport
from prodml.rollout._thompson import ThompsonSampling

# Plain sorted() order, which tests/test_public_api.py checks (RUF022 would put UCB1 first).
__all__ = [  # noqa: RUF022
    "ABTest",
    "BlueGreen",
    "Canary",
    "Decision",
    "EpsilonGreedy",
    "Gate",
    "Router",
    "Shadow",
    "ShadowReport",
    "Step",
    "ThompsonSampling",
    "UCB1",
]
