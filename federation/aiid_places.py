"""Where an AIID incident happened: ISO 3166-1 countries from the dataset's fields and text.

    >>> countries_in_text("India's BJP used deepfakes before the Delhi election")
    ['IN']
    >>> countries_in_text("Palo Alto, CA")    # a US state code is not Canada
    []

Two kinds of evidence, kept apart so statistics can tell them (``docs/aiid-mapping.md``):

* **observed** — a location field of a published classification names the country: CSETv1
  ``Location Country (two letters)`` (an ISO code, or a spelt-out name), else the whole country
  names in CSETv0's free-text ``Location`` ("Hamburg, Germany" → DE; "UK/USA" → GB, US);
* **derived** — no location field says, but the incident's own title or description names a
  country in full ("India's BJP …" → IN). A derived country is the country the text is about,
  which is usually but not always where the harm happened, so it is marked as such.

Nothing else is guessed: an incident with neither has no country, and statistics say
"unknown". Two-letter parts of free text never count ("CA" is as likely California).
"""

from __future__ import annotations

import re

# ISO 3166-1 alpha-2 (as in the tz database's iso3166.tab).
_ISO_3166_ALPHA2 = """
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW"""
ISO_COUNTRIES = frozenset(_ISO_3166_ALPHA2.split())

# Country names as the classifications and the incident texts spell them. Names that are also
# common words or places elsewhere (Georgia, Jersey, Chad, Turkey, Jordan) are left out: a
# wrong country is worse than an unknown one.
COUNTRY_NAMES = {
    "united states": "US", "united states of america": "US", "usa": "US", "u.s.": "US",
    "united kingdom": "GB", "uk": "GB", "britain": "GB", "great britain": "GB",
    "england": "GB", "scotland": "GB", "wales": "GB", "northern ireland": "GB",
    "france": "FR", "germany": "DE", "italy": "IT", "spain": "ES", "portugal": "PT",
    "switzerland": "CH", "sweden": "SE", "norway": "NO", "denmark": "DK", "finland": "FI",
    "netherlands": "NL", "belgium": "BE", "austria": "AT", "poland": "PL", "ireland": "IE",
    "greece": "GR", "hungary": "HU", "romania": "RO", "ukraine": "UA", "russia": "RU",
    "israel": "IL", "iran": "IR", "iraq": "IQ", "saudi arabia": "SA",
    "united arab emirates": "AE", "egypt": "EG", "nigeria": "NG", "kenya": "KE",
    "south africa": "ZA", "ethiopia": "ET", "japan": "JP", "china": "CN", "south korea": "KR",
    "north korea": "KP", "taiwan": "TW", "hong kong": "HK", "singapore": "SG",
    "india": "IN", "pakistan": "PK", "bangladesh": "BD", "indonesia": "ID",
    "philippines": "PH", "vietnam": "VN", "thailand": "TH", "malaysia": "MY",
    "myanmar": "MM", "australia": "AU", "new zealand": "NZ", "canada": "CA",
    "mexico": "MX", "brazil": "BR", "argentina": "AR", "chile": "CL", "colombia": "CO",
    "peru": "PE", "venezuela": "VE",
}
# Longest names first, so "United States of America" wins over "United States".
_NAME_PATTERN = re.compile(
    r"(?<![\w.])(" + "|".join(re.escape(n) for n in sorted(COUNTRY_NAMES, key=len, reverse=True))
    + r")(?![\w])", re.IGNORECASE)


def country_code(text: str) -> str | None:
    """An ISO code or a whole country name as ISO 3166-1 alpha-2; ``None`` if neither."""
    value = text.strip()
    if value in ISO_COUNTRIES:
        return value
    return COUNTRY_NAMES.get(value.lower())


def countries_in_location(text: str) -> list[str]:
    """Whole country names in a free-text location ("UK/USA", "Hamburg, Germany")."""
    out: list[str] = []
    for part in text.replace("/", ",").split(","):
        code = COUNTRY_NAMES.get(part.strip().lower())
        if code and code not in out:
            out.append(code)
    return out


def countries_in_text(text: str) -> list[str]:
    """Countries named in full in running text, in order of first mention.

    "UK" counts only in capitals (in lower case it is rarely the country); "US" never does
    (the pronoun).
    """
    out: list[str] = []
    for match in _NAME_PATTERN.finditer(text):
        name = match.group(1)
        if name.lower() == "uk" and name != "UK":
            continue
        code = COUNTRY_NAMES[name.lower()]
        if code not in out:
            out.append(code)
    return out
