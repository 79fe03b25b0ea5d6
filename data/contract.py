"""The data contract in code: one definition of every table the pipeline reads or writes.

Each column is declared once, with its kind, whether it is required and what it means.
From these specs come the pandera schemas used by validation, the column lists used by
the synthetic generator, and the contract documentation (``customs-risk contract``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa

Kind = Literal[
    "id",
    "text",
    "hs_code",
    "hs_prefix",
    "date",
    "float",
    "int",
    "country",
    "countries",
    "locode",
    "locodes",
    "choice",
    "labels",
]

HS_CODE_PATTERN = r"^\d{6,10}$"
HS_PREFIX_PATTERN = r"^\d{2,10}$"
LOCODE_PATTERN = r"^[A-Z]{2}[A-Z0-9]{3}$"
LOCODES_PATTERN = r"^([A-Z]{2}[A-Z0-9]{3}(;[A-Z]{2}[A-Z0-9]{3})*)?$"
MAX_TEXT_LENGTH = 2000
MAX_ID_LENGTH = 128


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a contract table."""

    name: str
    kind: Kind
    required: bool
    description: str
    minimum: float | None = None
    minimum_inclusive: bool = True
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    # other spellings read as one of ``choices`` (lower-case key -> choice), e.g. "seizure" -> "violation"
    synonyms: tuple[tuple[str, str], ...] = ()

    @property
    def type_label(self) -> str:
        labels = {
            "id": "str",
            "text": "str",
            "hs_code": "str, 6-10 digits",
            "hs_prefix": "str, 2-10 digits",
            "date": "date/datetime",
            "float": "float",
            "int": "int",
            "country": "ISO2",
            "countries": "ISO2 list (;)",
            "locode": "LOCODE",
            "locodes": "LOCODE list (;)",
            "choice": "one of " + ", ".join(self.choices),
            "labels": "';'-separated words, usually " + ", ".join(self.choices),
        }
        label = labels[self.kind]
        if self.minimum is not None:
            label += f" {'>=' if self.minimum_inclusive else '>'} {self.minimum:g}"
        if self.maximum is not None:
            label += f" <= {self.maximum:g}"
        return label


@dataclass(frozen=True)
class TableSpec:
    """One contract table: its columns, key and whether a bundle must have it."""

    name: str
    description: str
    columns: tuple[ColumnSpec, ...]
    required_in_bundle: bool
    key: str | None = None
    # columns whose defects blank the value and warn, keeping the row (the label does not need them)
    soft_columns: tuple[str, ...] = ()
    # whether a repeated key is a defect of the row (inspections: a later outcome supersedes an earlier one)
    unique_key: bool = True

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def optional_columns(self) -> list[str]:
        return [c.name for c in self.columns if not c.required]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _c(name: str, kind: Kind, required: bool, description: str, **kw) -> ColumnSpec:
    return ColumnSpec(name, kind, required, description, **kw)


DECLARATIONS = TableSpec(
    name="declarations",
    description="One row per declaration item: the history to learn from, or a day's manifest.",
    key="declaration_id",
    required_in_bundle=True,
    columns=(
        _c(
            "declaration_id",
            "id",
            True,
            "Unique key of the item; scoring the same id twice never creates two cases.",
        ),
        _c("declared_at", "date", True, "When the declaration was lodged."),
        _c(
            "exporter_id",
            "id",
            True,
            "Exporter's registry id (absence from the registry is itself a signal).",
        ),
        _c("exporter_name", "text", True, "Exporter name as written on the declaration."),
        _c("consignee_name", "text", True, "Consignee name as written on the declaration."),
        _c("consignee_country", "country", True, "Consignee's country."),
        _c("hs_code", "hs_code", True, "Declared commodity code; a string, leading zeros kept."),
        _c(
            "goods_description",
            "text",
            True,
            "Free-text goods description as declared (never trusted, always escaped).",
        ),
        _c(
            "gross_weight_kg",
            "float",
            True,
            "Declared gross mass in kilograms.",
            minimum=0,
            minimum_inclusive=False,
        ),
        _c(
            "declared_value_usd",
            "float",
            True,
            "Declared statistical/FOB value in US dollars.",
            minimum=0,
        ),
        _c("origin_country", "country", True, "Declared country of origin of the goods."),
        _c("port_of_loading", "locode", True, "UN/LOCODE of the port where the goods are loaded."),
        _c("port_of_discharge", "locode", True, "UN/LOCODE of the port where they are discharged."),
        _c("destination_country", "country", True, "Declared final destination."),
        _c("consignee_id", "id", False, "Consignee's registry id, where known."),
        _c("declarant_id", "id", False, "Customs broker / declarant."),
        _c(
            "net_weight_kg",
            "float",
            False,
            "Net mass in kilograms.",
            minimum=0,
            minimum_inclusive=False,
        ),
        _c("quantity", "float", False, "Quantity in quantity_unit.", minimum=0),
        _c("quantity_unit", "text", False, "Unit of quantity, e.g. kg, u, t."),
        _c("packages", "int", False, "Number of packages.", minimum=0),
        _c(
            "package_volume_m3",
            "float",
            False,
            "Declared cargo volume in cubic metres.",
            minimum=0,
            minimum_inclusive=False,
        ),
        _c("container_count", "int", False, "Containers used.", minimum=0),
        _c("container_type", "choice", False, "Container type.", choices=("20GP", "40GP", "40HC")),
        _c(
            "transshipment_ports",
            "locodes",
            False,
            "Intermediate ports in order, ';'-separated LOCODEs; empty means direct.",
        ),
        _c(
            "transport_mode",
            "choice",
            False,
            "Mode of transport.",
            choices=("sea", "air", "road", "rail"),
        ),
        _c("license_id", "id", False, "Export license quoted on the declaration."),
        _c("end_use", "text", False, "Declared end use."),
    ),
)

TYPOLOGIES = (
    "mislabel",
    "routing",
    "shell",
    "blending",
    "undervaluation",
    "no_license",
    "concealment",
)
OUTCOME_SYNONYMS = (
    *(
        (w, "violation")
        for w in (
            "violations",
            "positive",
            "hit",
            "seizure",
            "seized",
            "irregularity",
            "irregular",
            "fraud",
            "offence",
            "offense",
            "detected",
            "infringement",
        )
    ),
    *(
        (w, "clear")
        for w in (
            "cleared",
            "negative",
            "no violation",
            "no_violation",
            "compliant",
            "ok",
            "nil",
            "released",
            "no irregularity",
            "no_irregularity",
        )
    ),
)

INSPECTIONS = TableSpec(
    name="inspections",
    description=(
        "Outcomes of physical or document inspections: the labels. "
        "Items without a row are unlabelled, not clean. A defect in a field the label does not "
        "need (typology, found_hs_code, seized_value_usd, selected_by) blanks that field with a "
        "warning; the outcome is kept. A later outcome for the same declaration supersedes an "
        "earlier one."
    ),
    key="declaration_id",
    required_in_bundle=True,
    soft_columns=("inspected_on", "typology", "found_hs_code", "seized_value_usd", "selected_by"),
    unique_key=False,
    columns=(
        _c("declaration_id", "id", True, "The inspected item."),
        _c(
            "inspected_on",
            "date",
            True,
            "When the result was recorded (blank or unreadable: taken as the declaration date plus "
            "the bundle's usual delay, with a warning).",
        ),
        _c(
            "outcome",
            "choice",
            True,
            "Result of the inspection (other usual words such as 'seizure' or 'negative' are read as one of "
            "these, and said so).",
            choices=("violation", "clear"),
            synonyms=OUTCOME_SYNONYMS,
        ),
        _c(
            "typology",
            "labels",
            False,
            "Smuggling methods found, ';'-separated (`no_license;routing`); an unknown word is kept and "
            "reported.",
            choices=TYPOLOGIES,
        ),
        _c("found_hs_code", "hs_code", False, "The code the goods really belonged to."),
        _c(
            "seized_value_usd",
            "float",
            False,
            "Value of goods seized / duty recovered (US dollars).",
            minimum=0,
        ),
        _c(
            "selected_by",
            "choice",
            False,
            "Why the item was inspected.",
            choices=("rule", "model", "exploration", "random"),
        ),
    ),
)

COMPANIES = TableSpec(
    name="companies",
    description="Company registry.",
    key="company_id",
    required_in_bundle=True,
    columns=(
        _c("company_id", "id", True, "Registry id."),
        _c("name", "text", True, "Registered name."),
        _c("country", "country", True, "Country of registration."),
        _c("address", "text", False, "Registered address."),
        _c("incorporated_on", "date", False, "Date of incorporation."),
        _c("registered_agent", "text", False, "Registered agent / formation agent."),
        _c("employees", "int", False, "Number of employees.", minimum=0),
    ),
)

OWNERSHIP = TableSpec(
    name="ownership",
    description="Who owns whom; an owner can be a company or a person id.",
    required_in_bundle=True,
    columns=(
        _c("owner_id", "id", True, "Owner: a company or person id."),
        _c("owned_id", "id", True, "Owned company id."),
        _c("share_pct", "float", False, "Share held, in percent.", minimum=0, maximum=100),
    ),
)

OFFICERS = TableSpec(
    name="officers",
    description="Directors and officers of companies.",
    required_in_bundle=False,
    columns=(
        _c("person_id", "id", True, "Person id."),
        _c("person_name", "text", True, "Person's name."),
        _c("company_id", "id", True, "Company where the person holds office."),
        _c("role", "text", False, "Role, e.g. director, secretary."),
    ),
)

WATCHLIST = TableSpec(
    name="watchlist",
    description="Listed entities, in the layout of OpenSanctions' targets.simple.csv.",
    key="id",
    required_in_bundle=True,
    columns=(
        _c("id", "id", True, "Entity id; may equal a registry company_id."),
        _c("schema", "text", False, "Entity type, e.g. Company, Person."),
        _c("name", "text", True, "Listed name."),
        _c("aliases", "text", False, "Other names, ';'-separated."),
        _c("birth_date", "text", False, "Birth date (persons)."),
        _c("countries", "text", False, "Countries, ';'-separated."),
        _c("addresses", "text", False, "Addresses, ';'-separated."),
        _c("identifiers", "text", False, "Identifiers, ';'-separated."),
        _c("sanctions", "text", False, "Sanction programmes."),
        _c("phones", "text", False, "Phones."),
        _c("emails", "text", False, "E-mails."),
        _c("program_ids", "text", False, "Programme ids."),
        _c("dataset", "text", False, "Source dataset."),
        _c("first_seen", "text", False, "First seen."),
        _c("last_seen", "text", False, "Last seen."),
        _c("last_change", "text", False, "Last change."),
    ),
)

LICENSES = TableSpec(
    name="licenses",
    description="Export licenses granted.",
    key="license_id",
    required_in_bundle=False,
    columns=(
        _c("license_id", "id", True, "License number."),
        _c("exporter_id", "id", True, "Exporter holding the license."),
        _c("hs_code", "hs_prefix", True, "Code prefix covered: 2805 covers 280530..."),
        _c("destination_country", "country", True, "Licensed destination."),
        _c("consignee_name", "text", True, "Licensed consignee."),
        _c("quantity_kg", "float", True, "Licensed quantity in kilograms.", minimum=0),
        _c("valid_from", "date", True, "First day of validity."),
        _c("valid_to", "date", True, "Last day of validity."),
        _c("end_use", "text", True, "Licensed end use."),
    ),
)

TABLES: dict[str, TableSpec] = {
    t.name: t for t in (DECLARATIONS, INSPECTIONS, COMPANIES, OWNERSHIP, OFFICERS, WATCHLIST, LICENSES)
}

# What scoring writes (documentation of the output contract; written by pipelines/).
SCORED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("declaration_id", "The scored item."),
    ("risk_score", "Model risk score, 0 to 1."),
    ("channel", "red (physical examination), yellow (document check) or green (release)."),
    ("selected_by", "model, rule, exploration, or empty for green items."),
    ("rule_hits", "Names of the risk rules the item hit, ';'-separated."),
    ("reason_1..reason_N", "Top reasons in plain language (at least three for red/yellow items)."),
    (
        "contribution_1..contribution_N",
        "Signed contribution of each reason to the score (log-odds).",
    ),
    ("model_version", "Registered model version that produced the score."),
)
QUARANTINE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source", "File the row came from."),
    ("row_number", "1-based position of the row among the file's data rows."),
    ("declaration_id", "The row's key, where readable."),
    ("column", "Column with the problem (empty for row-level problems)."),
    ("value", "The offending value, as read."),
    ("problem", "What is wrong, in plain language."),
)

_PROBLEMS = {
    "hs_code": "must be 6 to 10 digits (a code is text: keep leading zeros)",
    "hs_prefix": "must be 2 to 10 digits",
    "locode": "must be a 5-character UN/LOCODE such as CNSHA",
    "locodes": "must be UN/LOCODEs separated by ';' (e.g. VNHPH;MYPKG), or empty",
    "id_length": f"is longer than {MAX_ID_LENGTH} characters",
    "text_length": f"is longer than {MAX_TEXT_LENGTH} characters",
    "blank": "is empty but required",
}


def _checks(col: ColumnSpec) -> list[pa.Check]:
    checks: list[pa.Check] = []
    if col.kind == "hs_code":
        checks.append(pa.Check.str_matches(HS_CODE_PATTERN, error=_PROBLEMS["hs_code"]))
    elif col.kind == "hs_prefix":
        checks.append(pa.Check.str_matches(HS_PREFIX_PATTERN, error=_PROBLEMS["hs_prefix"]))
    elif col.kind == "locode":
        checks.append(pa.Check.str_matches(LOCODE_PATTERN, error=_PROBLEMS["locode"]))
    elif col.kind == "locodes":
        checks.append(pa.Check.str_matches(LOCODES_PATTERN, error=_PROBLEMS["locodes"]))
    elif col.kind == "id":
        checks.append(pa.Check.str_length(max_value=MAX_ID_LENGTH, error=_PROBLEMS["id_length"]))
    elif col.kind == "text":
        checks.append(pa.Check.str_length(max_value=MAX_TEXT_LENGTH, error=_PROBLEMS["text_length"]))
    elif col.kind == "country":
        checks.append(_member_of(country_codes(), "is not an ISO 3166-1 alpha-2 country code"))
    elif col.kind == "choice":
        checks.append(_member_of(frozenset(col.choices), "must be one of " + ", ".join(col.choices)))
    if col.minimum is not None:
        if col.minimum_inclusive:
            checks.append(pa.Check.ge(col.minimum, error=f"must be {col.minimum:g} or more"))
        else:
            checks.append(pa.Check.gt(col.minimum, error=f"must be greater than {col.minimum:g}"))
    if col.maximum is not None:
        checks.append(pa.Check.le(col.maximum, error=f"must be {col.maximum:g} or less"))
    return checks


def _member_of(allowed: frozenset[str], error: str) -> pa.Check:
    """Membership check done on the column's distinct values (fast for millions of rows)."""

    def check(series):
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        ok_unique = np.array([u in allowed for u in uniques], dtype=bool)
        return pd.Series(np.where(codes < 0, True, ok_unique[np.maximum(codes, 0)]), index=series.index)

    return pa.Check(check, error=error, name="member_of")


_DTYPES = {
    "date": "datetime64[ns]",
    "float": "float64",
    "int": "Int64",
}


@cache
def country_codes() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes (pycountry), plus XK (Kosovo, user-assigned but in customs use)."""
    import pycountry

    return frozenset({c.alpha_2 for c in pycountry.countries} | {"XK"})


@cache
def pandera_schema(table: str) -> pa.DataFrameSchema:
    """The pandera schema of a contract table, for frames already parsed to their kinds."""
    spec = TABLES[table]
    columns = {}
    for col in spec.columns:
        columns[col.name] = pa.Column(
            _DTYPES.get(col.kind, "str"),
            checks=_checks(col),
            nullable=True,  # blank required values are reported by the parser with a clearer message
            required=col.required,
            description=col.description,
            title=col.name,
        )
    return pa.DataFrameSchema(columns, name=table, strict=False, coerce=False)


def contract_markdown() -> str:
    """The contract as Markdown, generated from the specs above (``customs-risk contract``)."""
    lines = [
        "# Data contract (generated from `data/contract.py`)",
        "",
        "Dates and times are ISO 8601 (or Parquet dates and timestamps). A time with an offset "
        "(`2026-03-01T08:00+08:00`), or a Parquet timestamp with a time zone, is read as the "
        "moment in UTC; a time without one is taken as written (the administration's own clock). "
        "Codes and identifiers are text: leading zeros are kept.",
        "",
    ]
    for spec in TABLES.values():
        need = "required in a bundle" if spec.required_in_bundle else "optional"
        lines += [
            f"## {spec.name} ({need})",
            "",
            spec.description,
            "",
            "| column | required | type | meaning |",
            "|---|---|---|---|",
        ]
        for c in spec.columns:
            lines.append(f"| {c.name} | {'yes' if c.required else 'no'} | {c.type_label} | {c.description} |")
        lines.append("")
    lines += ["## What scoring writes: scored rows", "", "| column | meaning |", "|---|---|"]
    lines += [f"| {n} | {d} |" for n, d in SCORED_COLUMNS]
    lines += [
        "",
        "## What scoring writes: quarantined rows",
        "",
        "| column | meaning |",
        "|---|---|",
    ]
    lines += [f"| {n} | {d} |" for n, d in QUARANTINE_COLUMNS]
    return "\n".join(lines) + "\n"
