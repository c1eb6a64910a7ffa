"""Country codes from Vast's free-text `geolocation`.

Offers mostly say `"Washington, US"` (region, ISO 3166-1 alpha-2 code), but Vast's own documents
show `"California, United States"`. `country_code` reads both: a trailing two-letter code, or a
country name (the common set below, with the usual aliases) after the last comma, or after an
earlier one (`"Seoul, Korea, Republic of"`). An unknown name gives None: the caller must then
treat the country as unknown, never as a mismatch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["COUNTRY_NAMES", "country_code"]

_CODE = re.compile(r"(?:^|[,\s])([A-Z]{2})\s*$")
_SPACES = re.compile(r"\s+")

_NAMES: dict[str, tuple[str, ...]] = {
    "AE": ("United Arab Emirates", "UAE"),
    "AL": ("Albania",),
    "AM": ("Armenia",),
    "AR": ("Argentina",),
    "AT": ("Austria",),
    "AU": ("Australia",),
    "AZ": ("Azerbaijan",),
    "BA": ("Bosnia and Herzegovina",),
    "BD": ("Bangladesh",),
    "BE": ("Belgium",),
    "BG": ("Bulgaria",),
    "BH": ("Bahrain",),
    "BR": ("Brazil",),
    "BY": ("Belarus",),
    "CA": ("Canada",),
    "CH": ("Switzerland",),
    "CL": ("Chile",),
    "CN": ("China", "People's Republic of China"),
    "CO": ("Colombia",),
    "CR": ("Costa Rica",),
    "CY": ("Cyprus",),
    "CZ": ("Czechia", "Czech Republic"),
    "DE": ("Germany", "Deutschland"),
    "DK": ("Denmark",),
    "EC": ("Ecuador",),
    "EE": ("Estonia",),
    "EG": ("Egypt",),
    "ES": ("Spain",),
    "FI": ("Finland",),
    "FR": ("France",),
    "GB": ("United Kingdom", "Great Britain", "England", "Scotland", "Wales", "Northern Ireland"),
    "GE": ("Georgia",),
    "GR": ("Greece",),
    "HK": ("Hong Kong",),
    "HR": ("Croatia",),
    "HU": ("Hungary",),
    "ID": ("Indonesia",),
    "IE": ("Ireland",),
    "IL": ("Israel",),
    "IN": ("India",),
    "IS": ("Iceland",),
    "IT": ("Italy",),
    "JP": ("Japan",),
    "KE": ("Kenya",),
    "KR": ("South Korea", "Korea", "Korea, Republic of", "Republic of Korea"),
    "KZ": ("Kazakhstan",),
    "LT": ("Lithuania",),
    "LU": ("Luxembourg",),
    "LV": ("Latvia",),
    "MA": ("Morocco",),
    "MD": ("Moldova", "Moldova, Republic of"),
    "MT": ("Malta",),
    "MX": ("Mexico",),
    "MY": ("Malaysia",),
    "NG": ("Nigeria",),
    "NL": ("Netherlands", "The Netherlands", "Holland"),
    "NO": ("Norway",),
    "NZ": ("New Zealand",),
    "PE": ("Peru",),
    "PH": ("Philippines",),
    "PK": ("Pakistan",),
    "PL": ("Poland",),
    "PR": ("Puerto Rico",),
    "PT": ("Portugal",),
    "QA": ("Qatar",),
    "RO": ("Romania",),
    "RS": ("Serbia",),
    "RU": ("Russia", "Russian Federation"),
    "SA": ("Saudi Arabia",),
    "SE": ("Sweden",),
    "SG": ("Singapore",),
    "SI": ("Slovenia",),
    "SK": ("Slovakia",),
    "TH": ("Thailand",),
    "TR": ("Turkey", "Türkiye", "Turkiye"),
    "TW": ("Taiwan", "Taiwan, Province of China"),
    "UA": ("Ukraine",),
    "US": ("United States", "United States of America", "USA"),
    "UY": ("Uruguay",),
    "UZ": ("Uzbekistan",),
    "VN": ("Vietnam", "Viet Nam"),
    "ZA": ("South Africa",),
}


def _key(name: str) -> str:
    return _SPACES.sub(" ", name).strip().casefold()


COUNTRY_NAMES: Mapping[str, str] = {
    _key(name): code for code, names in _NAMES.items() for name in names
}


def country_code(geolocation: str | None) -> str | None:
    """The ISO code of a Vast geolocation (`"Washington, US"` and `"California, United States"`
    both give ``US``), or None when it names no country we know."""
    if not geolocation:
        return None
    text = geolocation.strip()
    match = _CODE.search(text)
    if match:
        return match.group(1)
    parts = [part.strip() for part in text.split(",")]
    for start in range(len(parts) - 1, -1, -1):
        code = COUNTRY_NAMES.get(_key(", ".join(parts[start:])))
        if code is not None:
            return code
    return None
