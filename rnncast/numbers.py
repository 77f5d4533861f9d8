"""Numbers as exporters write them: ``$1,234.50``, ``12%``, ``1.234,5``, ``(1.82)``, ``−1.8``,
``10'035.0``, and thousands dots in ``;``-delimited (European) files.

:func:`coerce_decorated_numbers` turns text columns of such numbers into floats, with a note
per column on what was removed; :func:`thousands_dots_as_text` finds the columns of a
``;``-delimited file that pandas read as decimals but that are written with thousands dots.
Every conversion is all-or-nothing per column: a column with anything else is left as text for
validation to report with examples.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from rnncast.errors import DataError

CURRENCY_AND_SPACE = re.compile(r"[$€£¥\s]")
# 1,234.5 (thousands commas, decimal point) and 1.234,5 (thousands dots, decimal comma). A group
# of thousands never starts with 0: 0,976 and 0.976 are decimals.
_POINT_DECIMAL = re.compile(r"^[-+]?([1-9]\d{0,2}(,\d{3})+|\d+)(\.\d+)?$")
_COMMA_DECIMAL = re.compile(r"^[-+]?([1-9]\d{0,2}(\.\d{3})+|\d+)(,\d+)?$")
# In a ';'-delimited file, a column of these (one dotted at least) is written with thousands dots.
_DOTTED_THOUSANDS = re.compile(r"[-+]?[1-9]\d{0,2}(\.\d{3})+")
_BELOW_A_THOUSAND = re.compile(r"[-+]?\d{1,3}")
# Accounting negatives "(1.82)", the Unicode minus sign, Swiss apostrophes "10'035.0".
_ACCOUNTING_NEGATIVE = re.compile(r"^\((.+)\)$")
_UNICODE_MINUS = "\u2212"
_APOSTROPHE_THOUSANDS = re.compile(r"(?<=\d)['\u2019](?=\d{3}(?!\d))")


def thousands_dots_as_text(frame: pd.DataFrame, read: Callable[..., pd.DataFrame]) -> pd.DataFrame:
    """Number columns of a ``;``-delimited file that pandas read with decimal points but that
    are written with thousands dots (``823``, ``1.004``, ``15.000``), as the text written.

    ``read`` reads the file again with extra ``pandas.read_csv`` options. A column can change
    only when every value is an integer below 1000 or has dots between groups of three digits
    (one at least): ``0.976``, ``12.5`` or ``1.5e3`` keep the points as decimals. It changes
    only on evidence that the dots are thousands: an undotted integer of 100 or more beside the
    dotted values (``823``, ``1.004``), several dot groups (``1.234.567``), or decimal commas in
    another column of the file. Without evidence (``20.000``, ``1.789`` alone) the reading is
    ambiguous, and a factor of 1000 rides on it: refused.

    Raises:
        DataError: a column reads equally well as decimals and as thousands.
    """
    positions = [i for i in range(frame.shape[1]) if _could_be_dotted(frame.iloc[:, i])]
    if not positions:
        return frame
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            texts = read(usecols=positions, dtype=str)
        except (ValueError, pd.errors.ParserError):
            return frame
    if texts.shape != (len(frame), len(positions)):
        return frame
    file_uses_decimal_commas = any(
        not pd.api.types.is_numeric_dtype(frame.iloc[:, i])
        and frame.iloc[:, i].dropna().astype(str).str.fullmatch(r"\s*[-+]?\d+,\d+\s*").any()
        for i in range(frame.shape[1])
    )
    for position, (name, column) in zip(positions, texts.items(), strict=True):
        present = column.dropna().astype(str).str.strip()
        dotted = present.str.fullmatch(_DOTTED_THOUSANDS)
        undotted = present.str.fullmatch(_BELOW_A_THOUSAND)
        if not dotted.any() or not (dotted | undotted).all():
            continue
        evidence = (
            file_uses_decimal_commas
            or present[dotted].str.count(r"\.").gt(1).any()
            or pd.to_numeric(present[undotted], errors="coerce").abs().ge(100).any()
        )
        if not evidence:
            example = present[dotted].iloc[0]
            raise DataError(
                f"column {str(name).strip()!r} of a ';'-delimited file is written like {example!r}, which "
                f"reads as {example.replace('.', '')} with thousands dots or as {float(example):g} with a "
                "decimal point, and nothing else in the file tells which",
                "export the numbers without thousands separators (or with decimal commas, 1.234,5)",
            )
        frame.isetitem(position, column)
    return frame


def _could_be_dotted(column: pd.Series) -> bool:
    """Whether the float column ``column`` could have been written with thousands dots: every
    value below 1000 with at most three decimals (``1.004``, ``15.000``, ``823``)."""
    if not pd.api.types.is_float_dtype(column):
        return False
    values = column.dropna().to_numpy(dtype="float64")
    if not len(values) or not (np.abs(values) < 1000).all():
        return False
    scaled = values * 1000
    return bool(np.allclose(scaled, np.round(scaled), rtol=0, atol=1e-6))


# Anything a decorated number could look like (signs, currency, grouping, %, parentheses);
# a superset of what the conversion accepts, so the screen never turns a number column away.
_GROUPED_DIGITS = r"[\d.,'’\s\u00a0\u202f]*"
_LOOKS_DECORATED = re.compile(
    rf"\s*[-+(−]?\s*[$€£¥]?\s*[-+−]?{_GROUPED_DIGITS}\d{_GROUPED_DIGITS}%?\s*\)?\s*[$€£¥]?\s*"
)


# Values the screen of coerce_decorated_numbers looks at, and rows it reads to find them.
_SCREENED_VALUES = 200
_SCREENED_ROWS = 5 * _SCREENED_VALUES


def _may_be_decorated(column: pd.Series) -> bool:
    """Whether the first values present in the text ``column`` all look like decorated numbers
    (False when none is present); reads only the first rows unless most of them are missing."""
    present = column.iloc[:_SCREENED_ROWS].dropna()
    if len(present) < _SCREENED_VALUES and len(column) > _SCREENED_ROWS:
        present = column.dropna()
    sample = present.head(_SCREENED_VALUES).astype(str)
    return not sample.empty and bool(sample.str.fullmatch(_LOOKS_DECORATED).all())


def coerce_decorated_numbers(
    frame: pd.DataFrame, notes: list[str], *, decimal_comma_likely: bool
) -> pd.DataFrame:
    """Turn text columns of decorated numbers (``$1,234.50``, ``12%``, ``1.234,5``, ``(1.82)``,
    ``−1.8``, ``10'035.0``) into numbers.

    A column changes only when every non-missing cell is such a number; anything else is left
    for validation to report with examples. ``1,081`` alone could be either convention: it is a
    decimal comma in ``;``-delimited files (European exports) and a thousands separator otherwise;
    ``0,976`` is a decimal comma anywhere. ``1.004`` in a ``;``-delimited file reaches this
    function as text only when its column is written with thousands dots (see
    :func:`parse_csv`): the dots are then removed.
    """
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_datetime64_any_dtype(column):
            continue
        if not _may_be_decorated(column):
            continue  # cheap screen: dates and words leave here, before the passes over every row
        present = column.dropna().astype(str)
        text = present.str.replace(CURRENCY_AND_SPACE, "", regex=True)
        minus = text.str.contains(_UNICODE_MINUS, regex=False)
        text = text.str.replace(_UNICODE_MINUS, "-", regex=False)
        accounting = text.str.match(_ACCOUNTING_NEGATIVE)
        text = text.str.replace(_ACCOUNTING_NEGATIVE, r"-\1", regex=True)
        apostrophes = text.str.contains(_APOSTROPHE_THOUSANDS)
        text = text.str.replace(_APOSTROPHE_THOUSANDS, "", regex=True)
        percent = text.str.endswith("%")
        text = text.str.rstrip("%")
        point_style = bool(text.str.match(_POINT_DECIMAL).all())
        comma_style = bool(text.str.match(_COMMA_DECIMAL).all())
        dots = ""
        if comma_style and (not point_style or decimal_comma_likely):
            dotted = text.str.contains(".", regex=False)
            text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
            separators = "decimal commas read as decimal points"
            if dotted.any():
                example = present[dotted].iloc[0]
                dots = f"read dots as thousands separators ({example!r} as {text[dotted].iloc[0]})"
        elif point_style:
            text = text.str.replace(",", "", regex=False)
            separators = "removed thousands separators"
        else:
            continue
        numbers = pd.to_numeric(text, errors="coerce")
        if numbers.isna().any():
            continue
        converted = pd.Series(float("nan"), index=column.index, dtype="float64")
        converted[present.index] = numbers.astype("float64")
        frame[name] = converted
        changes = [
            label
            for label, used in (
                ("removed currency symbols", present.str.contains(r"[$€£¥]", regex=True).any()),
                (separators, present.str.contains(",", regex=False).any()),
                (dots, bool(dots)),
                ("removed apostrophe thousands separators", apostrophes.any()),
                ("read '−' (Unicode minus) as '-'", minus.any()),
                ("read numbers in parentheses as negative (accounting style)", accounting.any()),
                ("removed % signs (values kept in percent)", percent.any()),
            )
            if used
        ]
        if changes:
            notes.append(f"column {name!r}: {', '.join(changes)}")
    return frame
