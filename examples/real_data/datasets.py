"""Real datasets as numeric tables for `milp-recourse fit-scm` / `batch` / `audit`: what each column is and why.

Reads the raw files from $MILP_RECOURSE_DATA (default ../shared/datasets next to the repository) and returns a
numeric pandas DataFrame whose last column is the label (1 = the favourable outcome). Categorical columns are
encoded as 0/1 indicator columns or left out (categorical SCM nodes are not supported yet): see README.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def data_dir() -> Path:
    """The shared datasets folder (env MILP_RECOURSE_DATA, default <repo>/../shared/datasets)."""
    return Path(os.environ.get("MILP_RECOURSE_DATA", ROOT.parent / "shared" / "datasets"))


@dataclass(frozen=True)
class Dataset:
    """How one dataset is prepared and what a user would state about its columns."""

    name: str
    file: str                                  # relative to data_dir()
    label: str                                 # 1 = favourable
    immutable: tuple[str, ...]
    increase_only: tuple[str, ...] = ()
    decrease_only: tuple[str, ...] = ()
    continuous: tuple[str, ...] = ()           # integer/0-1 columns with parents in the DAG
    dag: str | None = None                     # file in examples/real_data, None = --independent
    model: str = "logreg"                      # default model kind
    audit_by: tuple[str, ...] = ()             # columns for `audit --by`
    notes: tuple[str, ...] = field(default=())


# Adult -----------------------------------------------------------------------------------------------------
ADULT_COLUMNS = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
                 "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country",
                 "income"]


def adult(folder: Path) -> pd.DataFrame:
    """Adult: the numeric columns (minus the sampling weight fnlwgt) + sex, race, marital status, native country
    as 0/1 indicators; label income >50K. workclass/occupation/relationship/education (text) are left out."""
    raw = pd.read_csv(folder / "adult" / "adult.data", header=None, names=ADULT_COLUMNS, skipinitialspace=True,
                      na_values="?")
    out = pd.DataFrame({
        "age": raw["age"],
        "sex_male": (raw["sex"] == "Male").astype(int),
        "race_white": (raw["race"] == "White").astype(int),
        "race_black": (raw["race"] == "Black").astype(int),
        "married": raw["marital-status"].isin(["Married-civ-spouse", "Married-AF-spouse"]).astype(int),
        "native_us": (raw["native-country"].fillna("?") == "United-States").astype(int),
        "education-num": raw["education-num"],
        "hours-per-week": raw["hours-per-week"],
        "capital-gain": raw["capital-gain"],
        "capital-loss": raw["capital-loss"],
        "income_gt_50k": (raw["income"] == ">50K").astype(int),
    })
    return out


# German credit ---------------------------------------------------------------------------------------------
GERMAN_SEX_COLUMNS = ("male_divorced", "female_divorced/married", "male_single", "male_married", "female_single")


def german(folder: Path) -> pd.DataFrame:
    """German credit (reachml's one-hot table) as it is, booleans as 0/1, plus `sex_male` (from the personal-status
    indicators) for the audit; label is_credit_risk_good moved last."""
    raw = pd.read_csv(folder / "german" / "german_processed.csv")
    raw = raw.astype({c: int for c in raw.columns if raw[c].dtype == bool})
    label = raw.pop("is_credit_risk_good")
    raw.insert(1, "sex_male", raw[["male_divorced", "male_single", "male_married"]].sum(axis=1).astype(int))
    raw["is_credit_risk_good"] = label
    return raw


# COMPAS ----------------------------------------------------------------------------------------------------
def compas(folder: Path) -> pd.DataFrame:
    """COMPAS with ProPublica's filters (screening within 30 days of arrest, known recidivism, charge F or M);
    label no_two_year_recid = 1 - two_year_recid (favourable: predicted not to reoffend)."""
    raw = pd.read_csv(folder / "compas" / "compas-scores-two-years.csv")
    raw = raw[(raw["days_b_screening_arrest"].between(-30, 30)) & (raw["is_recid"] != -1)
              & (raw["c_charge_degree"].isin(["F", "M"])) & (raw["score_text"] != "N/A")]
    out = pd.DataFrame({
        "age": raw["age"],
        "sex_male": (raw["sex"] == "Male").astype(int),
        "race_black": (raw["race"] == "African-American").astype(int),
        "race_white": (raw["race"] == "Caucasian").astype(int),
        "juv_fel_count": raw["juv_fel_count"],
        "juv_misd_count": raw["juv_misd_count"],
        "juv_other_count": raw["juv_other_count"],
        "priors_count": raw["priors_count"].iloc[:, 0] if raw["priors_count"].ndim == 2 else raw["priors_count"],
        "charge_felony": (raw["c_charge_degree"] == "F").astype(int),
        "no_two_year_recid": 1 - raw["two_year_recid"],
    })
    return out.reset_index(drop=True)


# Taiwan credit ---------------------------------------------------------------------------------------------
def taiwan(folder: Path) -> pd.DataFrame:
    """Taiwan credit (reachml's table) as it is; label no_default_next_month = 1 - will_default_next_month."""
    raw = pd.read_csv(folder / "taiwan-credit" / "credit_data.csv")
    label = 1 - raw.pop("will_default_next_month")
    raw["no_default_next_month"] = label
    return raw


PREPARE = {"adult": adult, "german": german, "compas": compas, "taiwan": taiwan}

DATASETS = {
    "adult": Dataset(
        "adult", "adult/adult.data", "income_gt_50k",
        immutable=("age", "sex_male", "race_white", "race_black", "married", "native_us"),
        increase_only=("education-num",),
        continuous=("education-num", "hours-per-week"),
        dag="adult.dag", model="lightgbm", audit_by=("sex_male", "race_white")),
    "german": Dataset(
        "german", "german/german_processed.csv", "is_credit_risk_good",
        # every one-hot group stays immutable: the SCM has no categorical nodes yet, so an actionable group could
        # end with two levels at once; only the numeric loan terms are actionable
        immutable=("age", "sex_male", *GERMAN_SEX_COLUMNS, "is_foreign_worker", "liable_persons",
                   "residence_since", "housing_is_renter", "housing_is_owner", "housing_is_free", "has_telephone",
                   "real_estate", "building_society", "car_or_other", "unknown_property", "job_is_unemployed",
                   "job_is_unskilled", "job_is_skilled", "job_is_management",
                   "purpose_is_car_new", "purpose_is_car_used", "purpose_is_furniture", "purpose_is_radio/tv",
                   "purpose_is_domestic_appliances", "purpose_is_repairs", "purpose_is_education",
                   "purpose_is_vacation", "purpose_is_retraining", "purpose_is_business", "purpose_is_other",
                   "credit_history_no_credits_taken", "credit_history_all_credits_paid_duly",
                   "credit_history_all_credits_paid_till_now", "credit_history_delay_in_paying_credits",
                   "credit_history_critical_credit_history", "has_bank_installments", "has_store_installments",
                   "has_none_installments", "checking_acct_le_0", "checking_acct_bt_0_200", "checking_acct_ge_200",
                   "no_checking_acct", "savings_acct_le_100", "savings_acct_bt_100_499", "savings_acct_bt_500_999",
                   "savings_acct_ge_1000", "no_savings_acct", "unemployed", "employed_le_1_yr",
                   "employed_bt_1_4_yr", "employed_bt_4_7_yr", "employed_geq_7_yr", "no_other_debtors",
                   "co-applicant", "guarantor"),
        decrease_only=("existing_credits",),
        continuous=("duration", "credit_amt", "installment_rate"),
        dag="german.dag", model="xgboost", audit_by=("sex_male",)),
    "compas": Dataset(
        "compas", "compas/compas-scores-two-years.csv", "no_two_year_recid",
        immutable=("age", "sex_male", "race_black", "race_white", "juv_fel_count", "juv_misd_count",
                   "juv_other_count"),
        decrease_only=("priors_count",),
        model="logreg", audit_by=("sex_male", "race_black")),
    "taiwan": Dataset(
        "taiwan", "taiwan-credit/credit_data.csv", "no_default_next_month",
        immutable=("age", "is_male", "education_graduate", "education_bachelors", "education_hs",
                   "martial_status_married", "martial_status_single", "martial_status_other",
                   # past months' repayment status cannot be changed now
                   "pay_2_months_delayed", "pay_3_months_delayed", "pay_4_months_delayed", "pay_5_months_delayed",
                   "pay_6_months_delayed", "pay_2_is_paid_duly", "pay_2_was_refunded", "pay_3_is_paid_duly",
                   "pay_3_was_refunded", "pay_4_is_paid_duly", "pay_4_was_refunded", "pay_5_is_paid_duly",
                   "pay_5_was_refunded", "pay_6_is_paid_duly", "pay_6_was_refunded",
                   "bill_amt2", "bill_amt3", "bill_amt4", "bill_amt5", "bill_amt6",
                   "pay_amt2", "pay_amt3", "pay_amt4", "pay_amt5", "pay_amt6",
                   "pay_0_is_paid_duly", "pay_0_was_refunded"),
        increase_only=("pay_amt1", "limit_bal"),
        decrease_only=("pay_0_months_delayed", "bill_amt1"),
        model="hgb", audit_by=("is_male",)),
}


def load(name: str, folder: Path | None = None) -> pd.DataFrame:
    """The prepared numeric table of dataset `name` (label last); FileNotFoundError names what is missing."""
    folder = data_dir() if folder is None else folder
    path = folder / DATASETS[name].file
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; set MILP_RECOURSE_DATA to the shared datasets folder.")
    return PREPARE[name](folder)


# Raw tables with their categorical columns (level names, for ColumnTransformer pipelines) -------------------
# Census order of Adult's `education` (the order of its education-num 1..16): an ordinal column.
ADULT_EDUCATION = ("Preschool", "1st-4th", "5th-6th", "7th-8th", "9th", "10th", "11th", "12th", "HS-grad",
                   "Some-college", "Assoc-voc", "Assoc-acdm", "Bachelors", "Masters", "Prof-school", "Doctorate")


@dataclass(frozen=True)
class RawDataset:
    """A raw table with text columns kept as level names: what fit-scm and the pipeline need to know."""

    name: str
    file: str                                  # relative to data_dir()
    label: str                                 # 1 = favourable
    immutable: tuple[str, ...]
    ordinal: tuple[tuple[str, tuple[str, ...]], ...] = ()   # column, levels lowest first
    increase_only: tuple[str, ...] = ()
    decrease_only: tuple[str, ...] = ()
    continuous: tuple[str, ...] = ()
    dag: str | None = None
    model: str = "logreg"
    audit_by: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()                # columns of the table that are not features (kept for the audit)


def adult_raw(folder: Path) -> tuple[pd.DataFrame, int]:
    """Adult as in adult.data: spaces stripped, '?' = missing; rows with a missing value dropped (returned count).
    Left out: fnlwgt (a sampling weight) and education-num (the census code of `education`, kept as ordinal)."""
    raw = pd.read_csv(folder / "adult" / "adult.data", header=None, names=ADULT_COLUMNS, skipinitialspace=True,
                      na_values="?")
    for c in raw.columns:
        if raw[c].dtype == object:
            raw[c] = raw[c].str.strip()
    missing = raw.isna().any(axis=1)
    raw = raw[~missing].reset_index(drop=True)
    raw["income_gt_50k"] = (raw.pop("income") == ">50K").astype(int)
    return raw.drop(columns=["fnlwgt", "education-num"]), int(missing.sum())


GERMAN_RAW_COLUMNS = ["status", "duration", "credit_history", "purpose", "credit_amount", "savings",
                      "present_employment", "installment_rate", "status_sex", "other_debtors", "residence_since",
                      "property", "age", "installment_plans", "housing", "existing_credits", "job",
                      "people_liable", "telephone", "foreign_worker", "credit"]


def german_raw(folder: Path) -> tuple[pd.DataFrame, int]:
    """German credit from german.data with every coded column mapped to its name by values_maps.json (booleans
    as 'yes' / 'no'; names stripped of spaces; `status` renamed checking_status); label good_credit = 1 for
    'good'. `sex` (from status_sex) is an
    extra column for the audit, not a feature."""
    import json

    maps = json.loads((folder / "german" / "values_maps.json").read_text())
    raw = pd.read_csv(folder / "german" / "german.data", sep=" ", header=None, names=GERMAN_RAW_COLUMNS, dtype=str)
    out = pd.DataFrame(index=raw.index)
    for c in GERMAN_RAW_COLUMNS:
        if c in maps:
            table = {k: ("yes" if v is True else "no" if v is False else str(v).strip()) for k, v in maps[c].items()}
            unknown = sorted(set(raw[c]) - set(table))
            if unknown:
                raise ValueError(f"german.data column {c!r} has code(s) {unknown} missing from values_maps.json")
            out[c] = raw[c].map(table)
        else:
            out[c] = pd.to_numeric(raw[c])
    out["good_credit"] = (out.pop("credit") == "good").astype(int)
    # values_maps.json calls the checking account `status`, the name of the batch results' status column
    out = out.rename(columns={"status": "checking_status"})
    out.insert(len(out.columns) - 1, "sex", out["status_sex"].str.split(":").str[0].str.strip())
    return out, 0


PREPARE_RAW = {"adult-cat": adult_raw, "german-cat": german_raw}

RAW_DATASETS = {
    "adult-cat": RawDataset(
        "adult-cat", "adult/adult.data", "income_gt_50k",
        immutable=("age", "sex", "race", "native-country", "marital-status", "relationship"),
        ordinal=(("education", ADULT_EDUCATION),),
        increase_only=("education",),
        continuous=("hours-per-week",),
        dag="adult_categorical.dag", model="lightgbm", audit_by=("sex", "race")),
    "german-cat": RawDataset(
        "german-cat", "german/german.data", "good_credit",
        # present_employment is ordered, but its level names contain '<' (the separator of fit-scm --ordinal), so
        # it stays a categorical column; immutable, since a categorical one could jump from '.. >= 7 years' to
        # 'unemployed' at the price of one switch
        immutable=("age", "status_sex", "foreign_worker", "credit_history", "purpose", "people_liable",
                   "residence_since", "present_employment"),
        decrease_only=("existing_credits",),
        continuous=("duration", "credit_amount", "installment_rate"),
        dag="german_categorical.dag", model="lightgbm", audit_by=("sex",), extra=("sex",)),
}


def load_raw(name: str, folder: Path | None = None) -> tuple[pd.DataFrame, int]:
    """The raw table of `name` (label last) with the count of rows dropped for missing values."""
    folder = data_dir() if folder is None else folder
    path = folder / RAW_DATASETS[name].file
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; set MILP_RECOURSE_DATA to the shared datasets folder.")
    return PREPARE_RAW[name](folder)
