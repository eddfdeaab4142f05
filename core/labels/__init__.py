"""The vocabularies every layer shares: expression labels (here), FACS Action Units
(`core.labels.facs`) and micro-expression classes (`core.labels.micro`).

The canonical expression labels and how each dataset's own names map onto them:

FER2013 has `neutral` and no `contempt`; CK+ has `contempt` and (in CK+48) no `neutral`.
Every reader turns its dataset's names into these, so models and tables can be compared.
"""

CANONICAL_LABELS: tuple[str, ...] = (
    "angry",
    "disgust",
    "fear",
    "happy",
    "sad",
    "surprise",
    "neutral",
    "contempt",
)

# FER2013's `emotion` column (Kaggle csv) and manifest index.
FER2013_INDEX: dict[int, str] = {
    0: "angry",
    1: "disgust",
    2: "fear",
    3: "happy",
    4: "sad",
    5: "surprise",
    6: "neutral",
}
# FER2013's folder layout `train|test/<class>/`.
FER2013_FOLDERS: dict[str, str] = {name: name for name in FER2013_INDEX.values()}

# CK+ `Emotion/*_emotion.txt` codes (Lucey et al. 2010).
CKPLUS_CODES: dict[int, str] = {
    0: "neutral",
    1: "angry",
    2: "contempt",
    3: "disgust",
    4: "fear",
    5: "happy",
    6: "sad",
    7: "surprise",
}
# CK+48's folder names.
CKPLUS48_FOLDERS: dict[str, str] = {
    "anger": "angry",
    "contempt": "contempt",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happy",
    "sadness": "sad",
    "surprise": "surprise",
}

# Names a plain `<class>/` folder may use, beyond the canonical ones.
SYNONYMS: dict[str, str] = {
    **CKPLUS48_FOLDERS,
    "happiness": "happy",
    "anger": "angry",
    "sadness": "sad",
    "surprised": "surprise",
    "fearful": "fear",
    "disgusted": "disgust",
    "neutrality": "neutral",
}


def canonical_label(name: str) -> str | None:
    """The canonical label for a dataset's class name, or None when it is not an expression."""
    key = name.strip().lower()
    if key in CANONICAL_LABELS:
        return key
    return SYNONYMS.get(key)
