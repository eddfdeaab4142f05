"""The FACS Action Unit catalogue and a parser for the AU codes found in coding sheets.

Names and muscles follow the FACS manual (Ekman, Friesen & Hager 2002); the one-line
descriptions are our own plain wording of what each AU does to the face. `region` names
the part of the face where the AU shows, as drawn by `core.au.regions` (None: nothing in
a face crop to point at, e.g. head and neck movements).

The catalogue covers every AU coded in CK+ (the FACS files and the NetFACS table),
CASME II and SAMM, plus the rest of the FACS main codes and the head and eye positions,
so any sheet coded with FACS finds its numbers here.

Coding sheets write AUs as "4+7", "L10", "R12", "12B", "R14A", "AU4", "1A+2B+L14C",
"10A/B", "(R6 or R12)+R15", "ref(7B)+43", "T18+39" or "9_17" (CK+ NetFACS). `parse_au_codes`
turns such a cell into the set of AU numbers; `parse_au_detail` keeps the side,
intensity and prefix letters too.
"""

import math
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ActionUnit:
    number: int
    name: str  # FACS name, e.g. "Lip Corner Puller"
    muscles: str  # muscular basis, per FACS 2002
    description: str  # one plain line a psychologist recognises
    region: str | None  # a region of core.au.regions.REGIONS, or None


def _au(number: int, name: str, muscles: str, description: str, region: str | None) -> ActionUnit:
    return ActionUnit(number, name, muscles, description, region)


_UNITS = (
    # ---- upper face
    _au(1, "Inner Brow Raiser", "frontalis, pars medialis",
        "raises the inner ends of the brows, as in sadness or worry", "brows"),
    _au(2, "Outer Brow Raiser", "frontalis, pars lateralis",
        "raises the outer ends of the brows, arching them, as in surprise", "brows"),
    _au(4, "Brow Lowerer", "corrugator supercilii, depressor supercilii, procerus",
        "lowers and draws the brows together, as in a frown", "brows"),
    _au(5, "Upper Lid Raiser", "levator palpebrae superioris",
        "raises the upper eyelid and widens the eye, as in surprise or fear", "eyelids"),
    _au(6, "Cheek Raiser", "orbicularis oculi, pars orbitalis",
        "lifts the cheeks and makes crow's feet at the eye corners, as in a genuine smile", "cheeks"),
    _au(7, "Lid Tightener", "orbicularis oculi, pars palpebralis",
        "tightens and narrows the eyelids, as in anger or concentration", "eyelids"),
    # ---- lower face
    _au(8, "Lips Toward Each Other", "orbicularis oris",
        "presses the lips toward each other with the jaw open", "lips"),
    _au(9, "Nose Wrinkler", "levator labii superioris alaeque nasi",
        "wrinkles the nose and lowers the inner brows, as in disgust", "nose"),
    _au(10, "Upper Lip Raiser", "levator labii superioris, caput infraorbitalis",
        "raises the upper lip, as in disgust", "upper_lip"),
    _au(11, "Nasolabial Deepener", "zygomaticus minor",
        "deepens the fold from the nose to the lip corners", "upper_lip"),
    _au(12, "Lip Corner Puller", "zygomaticus major",
        "pulls the lip corners up and back, as in a smile", "lip_corners"),
    _au(13, "Sharp Lip Puller", "levator anguli oris (caninus)",
        "pulls the lip corners sharply up into a narrow smile, puffing the cheeks", "lip_corners"),
    _au(14, "Dimpler", "buccinator",
        "tightens the lip corners and makes dimples, as in contempt", "lip_corners"),
    _au(15, "Lip Corner Depressor", "depressor anguli oris (triangularis)",
        "pulls the lip corners down, as in sadness", "lip_corners"),
    _au(16, "Lower Lip Depressor", "depressor labii inferioris",
        "pulls the lower lip down, as in disgust", "lips"),
    _au(17, "Chin Raiser", "mentalis",
        "pushes the chin boss and lower lip up, as in pouting or doubt", "chin"),
    _au(18, "Lip Pucker", "incisivii labii superioris and inferioris",
        "pushes the lips forward into a pucker, as for a kiss", "lips"),
    _au(19, "Tongue Show", "(tongue)", "shows the tongue", "lips"),
    _au(20, "Lip Stretcher", "risorius with platysma",
        "stretches the lips sideways, as in fear", "lip_corners"),
    _au(21, "Neck Tightener", "platysma",
        "tightens the skin of the neck", None),
    _au(22, "Lip Funneler", "orbicularis oris",
        "funnels the lips outward, as when saying 'sure'", "lips"),
    _au(23, "Lip Tightener", "orbicularis oris",
        "tightens and narrows the lips, as in anger", "lips"),
    _au(24, "Lip Pressor", "orbicularis oris",
        "presses the lips together, as in anger or holding back", "lips"),
    _au(25, "Lips Part", "depressor labii inferioris, or relaxation of mentalis or orbicularis oris",
        "parts the lips", "lips"),
    _au(26, "Jaw Drop", "masseter, temporalis and internal pterygoid relaxed",
        "lets the jaw drop so the mouth opens, as in surprise", "jaw"),
    _au(27, "Mouth Stretch", "pterygoids, digastric",
        "stretches the mouth wide open, as in a scream", "jaw"),
    _au(28, "Lip Suck", "orbicularis oris", "sucks the lips into the mouth", "lips"),
    _au(29, "Jaw Thrust", "(jaw)", "pushes the jaw forward", "jaw"),
    _au(30, "Jaw Sideways", "(jaw)", "moves the jaw to one side", "jaw"),
    _au(31, "Jaw Clencher", "masseter", "clenches the jaw, bulging the muscle at the jaw angle", "jaw"),
    _au(32, "Lip Bite", "(teeth)", "bites the lip", "lips"),
    _au(33, "Cheek Blow", "(air)", "blows the cheeks out with air", "cheeks"),
    _au(34, "Cheek Puff", "(air)", "puffs the cheeks with the lips closed", "cheeks"),
    _au(35, "Cheek Suck", "(suction)", "sucks the cheeks in", "cheeks"),
    _au(36, "Tongue Bulge", "(tongue)", "bulges a cheek or lip with the tongue", "lips"),
    _au(37, "Lip Wipe", "(tongue)", "wipes the lips with the tongue", "lips"),
    _au(38, "Nostril Dilator", "nasalis, pars alaris", "flares the nostrils", "nose"),
    _au(39, "Nostril Compressor", "nasalis, pars transversa, and depressor septi nasi",
        "narrows the nostrils", "nose"),
    # ---- eyelids
    _au(41, "Lid Droop", "relaxation of levator palpebrae superioris",
        "lets the upper eyelids droop, as in tiredness", "eyelids"),
    _au(42, "Slit", "orbicularis oculi", "narrows the eyes to slits", "eyelids"),
    _au(43, "Eyes Closed", "relaxation of levator palpebrae superioris; orbicularis oculi, pars palpebralis",
        "closes the eyes", "eyelids"),
    _au(44, "Squint", "orbicularis oculi, pars palpebralis", "squints the eyes", "eyelids"),
    _au(45, "Blink", "relaxation of levator palpebrae superioris; orbicularis oculi, pars palpebralis",
        "a quick closing and opening of both eyes", "eyelids"),
    _au(46, "Wink", "orbicularis oculi", "closes one eye briefly", "eyelids"),
    # ---- head positions
    _au(51, "Head Turn Left", "(head)", "turns the head to the left", None),
    _au(52, "Head Turn Right", "(head)", "turns the head to the right", None),
    _au(53, "Head Up", "(head)", "tilts the head back, chin up", None),
    _au(54, "Head Down", "(head)", "bows the head, chin down", None),
    _au(55, "Head Tilt Left", "(head)", "tilts the head toward the left shoulder", None),
    _au(56, "Head Tilt Right", "(head)", "tilts the head toward the right shoulder", None),
    _au(57, "Head Forward", "(head)", "pushes the head forward", None),
    _au(58, "Head Back", "(head)", "pulls the head back", None),
    # ---- eye positions
    _au(61, "Eyes Turn Left", "(eyes)", "looks to the left", "eyelids"),
    _au(62, "Eyes Turn Right", "(eyes)", "looks to the right", "eyelids"),
    _au(63, "Eyes Up", "(eyes)", "looks up", "eyelids"),
    _au(64, "Eyes Down", "(eyes)", "looks down", "eyelids"),
)  # fmt: skip

CATALOGUE: dict[int, ActionUnit] = {unit.number: unit for unit in _UNITS}


@dataclass(frozen=True)
class AUCode:
    """One AU as written in a coding sheet."""

    number: int
    side: str | None = None  # "L" or "R" (the person's own side), None when bilateral
    intensity: str | None = None  # "A" (trace) .. "E" (maximum); a range like "A/B" kept as written
    prefix: str | None = None  # other letters before the number (SAMM's "A", "B", "T"), kept as written
    reference: bool = False  # written as ref(...): noted by the coder, not scored


# An optional "ref(", optional "AU", prefix letters (side L/R, or SAMM's A/B/T, or "A/L"),
# the number, optional intensity letters (A-E, or a range "A/B").
_TOKEN = re.compile(
    r"(?P<ref>ref\(\s*)?(?:AU\s*)?(?P<prefix>[A-Z](?:/[A-Z])?)?(?P<number>\d{1,2})(?P<intensity>[A-E](?:/[A-E])?)?(?![\d])",
    re.IGNORECASE,
)


def parse_au_detail(text: object) -> list[AUCode]:
    """Every AU code in a sheet's cell, in order, with its side, intensity and prefix letters.

    "or" alternatives ("(R6 or R12)") give both AUs; free text ("soft focus") is ignored;
    0 (neutral) is not an AU and is dropped. Empty, None and NaN cells give [].
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return []
    if isinstance(text, int):
        return [AUCode(text)] if text > 0 else []
    codes = []
    for match in _TOKEN.finditer(str(text)):
        number = int(match["number"])
        if number == 0:
            continue
        prefix = (match["prefix"] or "").upper() or None
        side = None
        if prefix and prefix[-1] in "LR":
            side, prefix = prefix[-1], (prefix[:-2] or None)  # "A/L" -> side L, prefix A
        intensity = match["intensity"].upper() if match["intensity"] else None
        codes.append(AUCode(number, side, intensity, prefix, bool(match["ref"])))
    return codes


def parse_au_codes(text: object, include_reference: bool = True) -> frozenset[int]:
    """The AU numbers in a coding sheet's cell: "4+7+L10" -> {4, 7, 10}, "R14A" -> {14}.

    `include_reference=False` drops AUs written as ref(...), which SAMM's coders noted
    without scoring them.
    """
    return frozenset(c.number for c in parse_au_detail(text) if include_reference or not c.reference)


def describe(au: int) -> str:
    """ "AU12 Lip Corner Puller (zygomaticus major): pulls the lip corners up and back, as in a smile"."""
    unit = CATALOGUE.get(au)
    if unit is None:
        return f"AU{au} (not in the FACS catalogue)"
    return f"AU{unit.number} {unit.name} ({unit.muscles}): {unit.description}"
