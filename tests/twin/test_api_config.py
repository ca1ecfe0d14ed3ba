"""The planner API's config file (``api.toml``): every key checked for its type, unit and range
before any work, and whatever is wrong told in one ConfigError naming the file and the key.

The build config (``twin.toml``): ``tests/ingest/test_config.py``."""

from __future__ import annotations

import re

import numpy as np
import pydantic
import pytest

from tests import tomltext
from tests.conftest import ROOT
from twin.api.config import ApiConfig, ApiFile, hash_key
from twin.errors import ConfigError


def test_the_example_api_config_is_read(tmp_path):
    example = ROOT / "docs" / "api.example.toml"
    config = ApiConfig.load(example)
    assert (config.max_limit, config.timeout, config.auth_block_max_s) == (1000, 10.0, 900.0)
    assert config.feature_cache_bytes == 64 * 2**20  # 64 MiB
    # the water utility's area: [524300, 165200, 525000, 165800], 700 m x 600 m
    assert config.keys[1].area.area == pytest.approx(700 * 600)
    assert config.audit_log == example.parent / "audit.jsonl"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[limits]\nmax_limit = 0", "[limits] max_limit = 0: must be >= 1 (features)"),
        ("[limits]\ntimeout_s = -1", "[limits] timeout_s = -1: must be > 0 (s)"),
        ('[limits]\ntimeout_s = "10"', "[limits] timeout_s = '10': must be a number > 0 (s)"),
        ("[limits]\ntimeout_s = nan", "[limits] timeout_s = nan: must be a finite number > 0 (s)"),
        ("[limits]\nrate_per_minute = 0.5", "rate_per_minute = 0.5: must be a whole number >= 1"),
        ("[limits]\nfeature_cache_mb = 1e300", "must be between 0 and 1048576 (MiB)"),
        (
            "[limits]\nauth_block_s = 60\nauth_block_max_s = 30",
            "[limits] auth_block_max_s = 30: must be at least auth_block_s (60 s)",
        ),
        ("[limit]\nmax_limit = 5", "unknown table [limit]; known: limits, "),
        ("[limits]\nmax = 5", "[limits] max: unknown key; known: default_limit, max_limit"),
        (
            "[roles]\nplanner = 'utilities:read'",
            "[roles] planner = 'utilities:read': must be a list",
        ),
        ("[roles]\nplanner = [3]", "[roles] planner #1 = 3: must be a string"),
        ("[auth]\njwt_algorithms = ['none']", "[auth] jwt_algorithms #1 = 'none': must be 'HS256'"),
        ("[auth]\njwt_key_file = 'jwt.pem'", "[auth] jwt_key_file = 'jwt.pem': cannot read it"),
        ("[server]\ntrusted_proxies = ['proxy']", "'proxy' is no address or network"),
        ("[collections.trees]\nscope = 3", "[collections.trees] scope = 3: must be a string"),
        (
            "[[keys]]\nname = 'a'\nhash = 'sha256:abc'",
            "[keys #1] hash = 'sha256:abc': must be a hash",
        ),
        (
            f"[[keys]]\nname = 'a'\nhash = '{hash_key('k')}'\narea = [3, 0, 1, 2]",
            "[keys #1] area = [3.0, 0.0, 1.0, 2.0]: must be [xmin, ymin, xmax, ymax] with xmin",
        ),
        (
            f"[[keys]]\nname = 'a'\nhash = '{hash_key('k')}'\narea = [0, 0, 1]",
            "[keys #1] area = [0, 0, 1]: must be [xmin, ymin, xmax, ymax]",
        ),
        (
            f"[[keys]]\nname = 'a'\nhash = '{hash_key('k')}'\nrate_per_minute = 0",
            "[keys #1] rate_per_minute = 0: must be >= 1 (requests a minute)",
        ),
    ],
)
def test_api_config_errors_name_the_file_and_key(tmp_path, text, message):
    path = tmp_path / "api.toml"
    path.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        ApiConfig.load(path)
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)


def test_fuzzed_api_configs_raise_only_config_errors(tmp_path):
    rng = np.random.default_rng(15)
    tables = {
        name: list(getattr(info.annotation, "model_fields", {}))
        for name, info in ApiFile.model_fields.items()
    }
    path = tmp_path / "api.toml"
    refused = 0
    for _ in range(300):
        lines = []
        for table in rng.choice(list(tables), size=rng.integers(1, 4), replace=False):
            keys = tables[table] or ["trees", "planner", "x"]
            lines.append(f"[{table}]")
            for key in rng.choice(keys, size=min(len(keys), rng.integers(1, 3)), replace=False):
                drawn = tomltext.VALUES[rng.integers(len(tomltext.VALUES))]
                lines.append(f"{key} = {tomltext.value(drawn)}")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        try:
            ApiConfig.load(path)
        except ConfigError as exc:
            assert re.match(re.escape(str(path)) + ": ", str(exc))
            refused += 1
    assert refused >= 200


def test_from_dict_raises_config_errors_not_pydantic_ones():
    # callers catch ConfigError (an InputError): pydantic's own error never comes out
    with pytest.raises(ConfigError):
        ApiConfig.from_dict({"limits": {"max_limit": "many"}})
    assert not issubclass(ConfigError, pydantic.ValidationError)
