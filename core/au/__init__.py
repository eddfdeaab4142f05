"""FACS Action Units: the catalogue, AU code parsing, AU regions on the face, and the tables that
tie AUs to feature maps (`core.au.ranking`, statistics in `core.au.stats`, regions against
deconvolutions and attributions in `core.au.spatial`)."""

from core.labels.facs import CATALOGUE, ActionUnit, AUCode, describe, parse_au_codes, parse_au_detail

__all__ = ["CATALOGUE", "AUCode", "ActionUnit", "describe", "parse_au_codes", "parse_au_detail"]
