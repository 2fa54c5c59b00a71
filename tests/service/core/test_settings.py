import pytest
from pydantic import ValidationError

from sam2refiner.service.core.settings import Settings


def test_environment_variables_with_the_prefix(monkeypatch):
    monkeypatch.setenv("SAM2REFINER_SAM2_CONFIG", "hiera_t")
    monkeypatch.setenv("SAM2REFINER_IMAGE_SIZE", "512")
    monkeypatch.setenv("SAM2REFINER_API_KEY", "k")
    monkeypatch.setenv("SAM2REFINER_FEATURE_CACHE_BYTES", "1000")
    s = Settings()
    assert (s.sam2_config, s.image_size, s.api_key.get_secret_value(), s.feature_cache_bytes) == (
        "hiera_t",
        512,
        "k",
        1000,
    )


def test_empty_optional_values_mean_unset(monkeypatch):
    """Every setting that may be unset (its default None) is unset by an empty value, as docker compose passes an
    unset variable (an empty SAM2REFINER_DECODER_CACHE_DIR was the working directory)."""
    optional = [name for name, field in Settings.model_fields.items() if field.default is None]
    assert "decoder_cache_dir" in optional and "api_key" in optional
    for name in optional:
        monkeypatch.setenv(f"SAM2REFINER_{name.upper()}", "")
    s = Settings()
    assert {name: getattr(s, name) for name in optional} == dict.fromkeys(optional)


def test_variable_names_in_any_case(monkeypatch):
    monkeypatch.setenv("sam2refiner_port", "9001")
    assert Settings().port == 9001


@pytest.mark.parametrize("field, value", [("sam2_config", "hiera_xl"), ("image_size", 250), ("queue_size", 0)])
def test_bad_settings_are_refused_with_the_field(field, value):
    with pytest.raises(ValidationError) as e:
        Settings(**{field: value})
    assert e.value.errors()[0]["loc"] == (field,)
