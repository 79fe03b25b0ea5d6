"""Made-up cases in the shape scoring hands to the store: for tests, the load script, demos."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

_GOODS = (
    ("260111", "iron ore concentrate, non-agglomerated", "mislabel"),
    ("284690", "rare earth oxides (Dy2O3) in drums", "no_license"),
    ("690914", "industrial ceramic tiles", "concealment"),
    ("720299", "ferro-alloy, mixed RE silicon", "blending"),
    ("850511", "NdFeB permanent magnets", "routing"),
    ("261510", "zircon sand", "undervaluation"),
)
_PORTS = ("CNSHA", "VNHPH", "MYPKG", "AEJEA", "TRMER", "NLRTM", "DEHAM")
_REASONS = (
    ("value_per_kg_ratio", "declared as {goods}, but {v:.0f} USD/kg is {x:.0f}x the usual value"),
    ("hops_through_laundering_hubs", "routed through {n} transshipment hubs known for laundering"),
    ("consignee_age_days", "consignee incorporated {d} days before the shipment"),
    ("ownership_distance_to_listed", "ownership chain reaches a listed entity in {n} steps"),
    ("density_vs_declared_volume", "{x:.1f} t/m3 is too dense for the declared goods"),
)


def demo_cases(n: int, seed: int = 0, day: str = "2026-11-23", prefix: str = "D") -> pd.DataFrame:
    """``n`` plausible red/yellow cases for one manifest day (deterministic per seed)."""
    rng = np.random.default_rng(seed)
    scores = np.round(rng.beta(2, 5, n) * 0.6 + 0.4, 4)
    rows = [_demo_case(rng, f"{prefix}{i:06d}", float(scores[i]), day) for i in range(n)]
    return pd.DataFrame(rows)


def _demo_case(rng: np.random.Generator, declaration_id: str, score: float, day: str) -> dict:
    hs, goods, typology = _GOODS[int(rng.integers(len(_GOODS)))]
    hops = [str(p) for p in rng.choice(_PORTS[1:5], size=int(rng.integers(0, 3)), replace=False)]
    route = ["CNSHA", *hops, "NLRTM"]
    weight = float(rng.integers(2_000, 26_000))
    value = weight * float(rng.uniform(0.1, 60))
    reasons = []
    for feature, template in (_REASONS[int(k)] for k in rng.choice(len(_REASONS), 3, False)):
        text = template.format(
            goods=goods,
            v=value / weight,
            x=float(rng.uniform(2, 400)),
            n=int(rng.integers(1, 4)),
            d=int(rng.integers(5, 90)),
        )
        reasons.append(
            {"feature": feature, "text": text, "contribution": round(float(rng.normal(0.6, 0.5)), 3)}
        )
    rule = score > 0.8 and rng.random() < 0.5
    declaration = {
        "declaration_id": declaration_id,
        "declared_at": f"{day}T08:{int(rng.integers(60)):02d}:00",
        "exporter_id": f"CN-E{int(rng.integers(1, 400)):04d}",
        "exporter_name": f"Trading Co. {int(rng.integers(1, 400))}",
        "consignee_name": f"Metals BV {int(rng.integers(1, 200))}",
        "consignee_country": "NL",
        "hs_code": hs,
        "goods_description": goods,
        "gross_weight_kg": f"{weight:.0f}",
        "declared_value_usd": f"{value:.2f}",
        "origin_country": "CN",
        "port_of_loading": "CNSHA",
        "port_of_discharge": "NLRTM",
        "destination_country": "NL",
        "transshipment_ports": ";".join(hops),
    }
    history = [
        {
            "declared_at": f"2026-{m:02d}-1{m % 9}",
            "hs_code": hs,
            "gross_weight_kg": str(int(rng.integers(1_000, 20_000))),
            "outcome": "",
        }
        for m in range(1, int(rng.integers(1, 5)) + 1)
    ]
    owners = ["Metals BV", "Holding Ltd (VG)", "Listed Entity JSC"] if score > 0.7 else []
    return {
        "declaration_id": declaration_id,
        "manifest_day": day,
        "declared_at": declaration["declared_at"],
        "channel": "red" if score > 0.6 else "yellow",
        "risk_score": score,
        "selected_by": "rule" if rule else ("exploration" if rng.random() < 0.1 else "model"),
        "rule_hits": "controlled_goods_without_license" if rule else "",
        "reasons": json.dumps(reasons),
        "declaration": json.dumps(declaration),
        "route": " -> ".join(route),
        "ownership_path": json.dumps(owners),
        "exporter_history": json.dumps(history),
        "model_version": "7",
        "typology_hint": typology,
    }
