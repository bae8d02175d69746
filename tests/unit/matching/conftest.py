"""Shared fixtures for the matching library tests (no app, no database)."""

from __future__ import annotations

import pytest

from techfin.matching import TrainedModel, build_examples, train
from techfin.matching.scoring import Examples
from techfin.matching.synthetic import World, generate, generate_kinds


@pytest.fixture(scope="session")
def world() -> World:
    """Mixed kinds, funders with section appetites: the world of the learning test."""
    return generate(n_needs=3000, n_products=400, seed=1)


@pytest.fixture(scope="session")
def examples(world: World) -> Examples:
    return build_examples(world.needs, world.products, world.outcomes)


@pytest.fixture(scope="session")
def model(examples: Examples) -> TrainedModel:
    return train(examples)


@pytest.fixture(scope="session")
def small_world() -> World:
    """A smaller world for ranking equivalence checks."""
    return generate(n_needs=600, n_products=250, seed=5)


@pytest.fixture(scope="session")
def kinds_world() -> World:
    """Kind-specific drivers plus institution and product appetite (issue #15)."""
    return generate_kinds(n_needs=3000, n_products=400, seed=1)


@pytest.fixture(scope="session")
def kinds_examples(kinds_world: World) -> Examples:
    return build_examples(kinds_world.needs, kinds_world.products, kinds_world.outcomes)


@pytest.fixture(scope="session")
def kinds_model(kinds_examples: Examples) -> TrainedModel:
    return train(kinds_examples)
