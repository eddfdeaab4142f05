"""FACS Action Units: the catalogue, AU code parsing and AU regions on the face."""

from core.au.catalogue import CATALOGUE, ActionUnit, AUCode, describe, parse_au_codes, parse_au_detail

__all__ = ["CATALOGUE", "AUCode", "ActionUnit", "describe", "parse_au_codes", "parse_au_detail"]
