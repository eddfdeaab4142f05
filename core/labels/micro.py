"""Micro-expression classes: MEGC's three, CASME II's five, SAMM's emotions, and the maps between them.

The MEGC 2019 composite (CASME II + SAMM + SMIC) relabels every clip into three classes:
  negative  CASME II disgust, repression; SAMM anger, contempt, disgust, fear, sadness; SMIC negative
  positive  happiness (CASME II, SAMM), SMIC positive
  surprise  surprise (all three)
Clips of CASME II "others", "fear" or "sadness" and SAMM "other" are left out of the composite (see
See et al., "MEGC 2019 - the second facial micro-expressions grand challenge", FG 2019). CASME II's
own 5-class protocol keeps happiness, disgust, repression, surprise and others (fear and sadness
have too few clips and are dropped).
"""

from collections.abc import Iterable

MEGC_CLASSES: tuple[str, ...] = ("negative", "positive", "surprise")
CASME2_CLASSES: tuple[str, ...] = ("happiness", "disgust", "repression", "surprise", "others")
# Every emotion a coding sheet writes, lower-cased, in the spelling the readers keep.
CASME2_EMOTIONS: tuple[str, ...] = (*CASME2_CLASSES, "fear", "sadness")
SAMM_EMOTIONS: tuple[str, ...] = (
    "anger",
    "contempt",
    "disgust",
    "fear",
    "happiness",
    "sadness",
    "surprise",
    "other",
)

_TO_MEGC: dict[str, str] = {
    "happiness": "positive",
    "happy": "positive",
    "positive": "positive",
    "surprise": "surprise",
    "disgust": "negative",
    "repression": "negative",
    "anger": "negative",
    "angry": "negative",
    "contempt": "negative",
    "fear": "negative",
    "sadness": "negative",
    "sad": "negative",
    "negative": "negative",
}
# Emotions the MEGC composite keeps from each source; the others (CASME II fear and sadness,
# "others"/"other") are not part of it.
_MEGC_SOURCES: dict[str, frozenset[str]] = {
    "casme2": frozenset({"happiness", "disgust", "repression", "surprise"}),
    "samm": frozenset({"anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise"}),
    "smic": frozenset({"negative", "positive", "surprise"}),
}


def normalize_emotion(text: object) -> str | None:
    """A coding sheet's emotion cell, lower-cased and trimmed ("Happiness " -> "happiness"); None when empty."""
    if text is None or (isinstance(text, float) and text != text):
        return None
    return str(text).strip().lower() or None


def to_megc(emotion: str | None, source: str | None = None) -> str | None:
    """The MEGC class of an emotion ("repression" -> "negative"), None when it has none.

    With `source` ("casme2", "samm", "smic"), only the emotions the MEGC 2019 composite took
    from that dataset map; e.g. CASME II "fear" is None there, SAMM "fear" is "negative".
    """
    if emotion is None:
        return None
    emotion = emotion.strip().lower()
    if source is not None:
        allowed = _MEGC_SOURCES.get(source.lower())
        if allowed is None:
            raise ValueError(f"Unknown micro-expression source {source!r}; use casme2, samm or smic.")
        if emotion not in allowed:
            return None
    return _TO_MEGC.get(emotion)


def to_casme2_class(emotion: str | None) -> str | None:
    """The CASME II 5-class label of a CASME II emotion, None for fear and sadness (too few clips)."""
    if emotion is None:
        return None
    emotion = emotion.strip().lower()
    return emotion if emotion in CASME2_CLASSES else None


# ---- CASME II classes from Action Units ------------------------------------------------------
# CASME II's coders gave each clip an emotion from its AUs (Yan et al., "CASME II: an improved
# spontaneous micro-expression database and the baseline evaluation", PLoS ONE 2014, table 3). The
# rules, as this project applies them to a set of AUs (first rule that holds wins, in this order):
#   happiness   AU6 or AU12
#   disgust     AU9, AU10, or AU4 together with AU7
#   surprise    AU1 together with AU2, or AU2 together with AU25
#   repression  AU14, AU15 or AU17
#   others      anything else (e.g. AU4 alone: a frown is not coded as one emotion)
# The order settles the few AU sets two rules fit (AU12+AU15 is happiness). Synthetic clips
# (core.micro.synthetic) use it to give their events a CASME II class as well as a MEGC one.
CASME2_AU_RULES: tuple[tuple[str, tuple[frozenset[int], ...]], ...] = (
    ("happiness", (frozenset({6}), frozenset({12}))),
    ("disgust", (frozenset({9}), frozenset({10}), frozenset({4, 7}))),
    ("surprise", (frozenset({1, 2}), frozenset({2, 25}))),
    ("repression", (frozenset({14}), frozenset({15}), frozenset({17}))),
)
CASME2_OTHERS = "others"


def casme2_class_from_aus(aus: Iterable[int]) -> str:
    """The CASME II class of a set of FACS AUs, by CASME2_AU_RULES ((6, 12) -> "happiness")."""
    present = {int(au) for au in aus}
    for name, patterns in CASME2_AU_RULES:
        if any(pattern <= present for pattern in patterns):
            return name
    return CASME2_OTHERS
