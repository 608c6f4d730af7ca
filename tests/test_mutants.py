"""Every mutant of `make mutants` still applies to the code it breaks: found
by the suite at once, not by the mutation check at the end of a CI run."""

import os

import pytest

from tests.mutants import MUTANTS
from tests.mutants import ROOT


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda mutant: mutant.name)
def test_the_mutants_edit_applies_once(mutant):
    with open(os.path.join(ROOT, mutant.file), encoding="utf-8") as f:
        assert f.read().count(mutant.old) == 1, f"{mutant.name}: update tests/mutants.py"
