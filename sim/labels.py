"""Plain words for the parameter table: a label and a group a strategist recognises for every parameter.

The one definition of parameter labels: the app's controls, the Model page and docs/APP.md (generated
by ``python -m sim.labels``) all read them from here; the dotted name stays the key in scenario files,
links and the command line. No streamlit import here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.model.ids import BUYERS
from sim.model.params import PARAMS, load_catalogue

# Groups in the order the app lists them.
GROUPS: tuple[str, ...] = (
    "US controls and smuggling",
    "Chinese policy",
    "Huawei supply",
    "Other Chinese chip makers",
    "Foreign vendors",
    "Software ecosystem (CUDA lock-in)",
    "How buyers choose",
    "Stockpiling ahead of rules",
    "Demand",
    "Energy and money",
    "Individual buyers",
    "Chip specifications",
)

_BUYER_FIELDS = {
    "demand_share": "share of all demand",
    "state_linked": "state-linked share of its demand",
    "cuda_dependence": "dependence on CUDA software",
    "offshore_share": "share of its unmet training compute served abroad",
}
_PRODUCT_FIELDS = {
    "train": "training performance (x A100)",
    "infer": "inference performance (x A100)",
    "bf16": "peak compute (x A100)",
    "price_usd": "list or launch price (US$)",
    "power_w": "board power (W)",
}
_TIERS = {"frontier_training": "frontier training", "training": "other training", "inference": "inference",
          "low_priority": "low-priority work"}
_VENDOR_NAMES = {"OtherDomestic": "other domestic vendors"}  # capitalised at the start of a label

_LABELS: dict[str, str] = {
    # demand
    "demand.base_2022": "Compute wanted per month in early 2022",
    "demand.growth_annual": "Demand growth per year (to 2025)",
    "demand.growth_after_2025": "Demand growth per year (after mid-2025)",
    "demand.price_elasticity": "How much demand falls when compute gets dearer",
    "demand.backlog_decay": "Unmet demand given up each month",
    "demand.budget_headroom": "Buyers' budget room above normal spending",
    # choice
    "choice.price_weight": "Weight buyers give to price",
    "choice.switching_scale": "Cost of switching away from CUDA",
    "choice.experience_weight": "How much experience with domestic chips eases switching",
    "choice.risk_weight": "Weight buyers give to the risk of losing foreign supply",
    "choice.policy_weight": "Pull of Beijing's buy-domestic guidance",
    "choice.block_weight": "Deterrent of a partial Chinese block on a chip",
    "choice.nest_vendor": "How alike buyers see vendors of one country (1 = not alike)",
    "choice.nest_product": "How alike buyers see one vendor's chips (1 = not alike)",
    "choice.taste_sd": "Month-to-month swings in buyers' preferences",
    # expectations and stockpiles
    "anticipation.jump": "Fear of a supply cut when a rule is announced",
    "anticipation.decay": "How long that fear lasts (monthly persistence)",
    "anticipation.easing": "Fear left after a rule is eased",
    "hoarding.strength": "Buying ahead of a rule (months of demand)",
    "hoarding.general": "Buying ahead of all foreign chips when supply looks at risk",
    "stockpile.open_rate": "Stockpiled cards put into service each month",
    "efficiency.max": "Most a short buyer can gain from software efficiency",
    "efficiency.rate": "How fast short buyers gain efficiency",
    "ageing.lifetime_months": "Service life of a card (months)",
    # Huawei
    "huawei.wafers_2024": "Ascend wafers per month, mid-2024",
    "huawei.wafers_2025": "Ascend wafers per month, mid-2025",
    "huawei.wafers_2026": "Ascend wafers per month, mid-2026",
    "huawei.wafer_growth": "Growth of Ascend wafers per year after 2026",
    "huawei.yield_max": "Best Ascend yield with experience",
    "huawei.yield_learning_wafers": "Wafers it takes to learn most of the yield",
    "huawei.yield_noise": "Month-to-month swings in Ascend yield",
    "huawei.die_bank": "TSMC-made Ascend dies banked before the cut-off",
    "huawei.die_bank_draw": "Banked dies used per month",
    "huawei.hbm_stock": "Stockpiled foreign HBM memory stacks",
    "huawei.domestic_hbm_2026": "Chinese-made HBM stacks per month from 2026",
    "huawei.domestic_hbm_growth": "Yearly growth of Chinese-made HBM from 2026",
    # vendors
    "vendors.markup_max": "Most a vendor raises prices when sold out",
    "vendors.compliant_sku_lag": "Months to launch a chip that meets a new US limit",
    "vendors.compliant_tpp_share": "How close to a new US limit a compliant chip is made (share of the limit)",
    "vendors.compliant_link_train": "Training speed kept by a chip made legal by cutting its interconnect",
    "prices.decline_annual": "Yearly fall of foreign chip prices after the last price paid",
    "vendors.halt_on_block": "Chinese block strength that makes a foreign vendor stop making a chip",
    "levy.passthrough": "Share of US levies and duties passed on to buyers",
    "domestic.price_markup": "Domestic chips' price over their catalogue price",
    "domestic.capacity_scale": "Output of the other Chinese chip makers (x plan)",
    "captive.transfer_price": "Price of in-house chips to their owner (x list price)",
    "captive.owner_preference": "Preference of Alibaba and Baidu for their own chips",
    # ecosystem
    "maturity.learning_rate": "How fast a vendor's software matures with use",
    # energy and money
    "energy.price_rmb_kwh": "Data-centre electricity price (RMB/kWh)",
    "energy.domestic_penalty": "Extra electricity domestic chips need",
    "energy.utilisation": "Average load of an installed card",
    "fx.rmb_per_usd": "Exchange rate (RMB per US$)",
    # US controls and smuggling
    "grey.per_year": "Smuggled cards per year",
    "grey.premium": "Smuggling price premium (x list price)",
    "grey.enforcement": "Enforcement against smuggling (0 = none)",
    "grey.responsive": "Smuggling grows with the shortage and the smuggled price",
    "grey.shortage_ref": "Shortage at which smuggling runs at its yearly level",
    "grey.shortage_elasticity": "How strongly smuggling follows the shortage",
    "grey.premium_elasticity": "How strongly smuggling follows the smuggled price",
    "grey.max_multiple": "Most smuggling however large the shortage (x yearly level)",
    "grey.floor_exempt": "Smuggled cards are outside China's buy-domestic rules",
    "offshore.enabled": "ByteDance and Alibaba train abroad when short of chips",
    "offshore.cost_multiple": "Cost of compute abroad (x buying it at home)",
    "us.reactive.enabled": "US tightens again when Chinese chips improve",
    "us.reactive.trigger_perf": "Chinese chip performance that triggers a US tightening (x A100)",
    "us.reactive.ceiling_factor": "How far the US lowers its export limit when it reacts",
    # Chinese policy
    "china.floor_per_buyer": "Buy-domestic rules count a buyer's whole purchase (frontier work last)",
    "china.reactive.enabled": "China raises its buy-domestic rules as supply grows",
    "china.reactive.coverage_trigger": "Domestic coverage of demand that triggers a stricter rule",
    "china.reactive.mandate_step": "Step up of the domestic minimum each time",
}
for _t, _w in _TIERS.items():
    _LABELS[f"demand.tier_share.{_t}"] = f"Share of demand for {_w}"
    _LABELS[f"choice.tier_switching.{_t}"] = f"Switching cost for {_w} (x frontier)"

# Group of each parameter, by name prefix (first match wins).
_GROUP_RULES: tuple[tuple[str, str], ...] = (
    ("products.", "Chip specifications"),
    ("buyers.", "Individual buyers"),
    ("grey.", "US controls and smuggling"),
    ("us.", "US controls and smuggling"),
    ("china.", "Chinese policy"),
    ("choice.policy_weight", "Chinese policy"),
    ("choice.block_weight", "Chinese policy"),
    ("huawei.", "Huawei supply"),
    ("domestic.", "Other Chinese chip makers"),
    ("capacity.", "Other Chinese chip makers"),
    ("captive.transfer_price", "Other Chinese chip makers"),
    ("vendors.", "Foreign vendors"),
    ("levy.", "Foreign vendors"),
    ("prices.", "Foreign vendors"),
    ("maturity.", "Software ecosystem (CUDA lock-in)"),
    ("choice.switching_scale", "Software ecosystem (CUDA lock-in)"),
    ("choice.tier_switching.", "Software ecosystem (CUDA lock-in)"),
    ("choice.experience_weight", "Software ecosystem (CUDA lock-in)"),
    ("choice.", "How buyers choose"),
    ("captive.", "How buyers choose"),
    ("offshore.", "How buyers choose"),
    ("anticipation.", "Stockpiling ahead of rules"),
    ("hoarding.", "Stockpiling ahead of rules"),
    ("stockpile.", "Stockpiling ahead of rules"),
    ("demand.", "Demand"),
    ("efficiency.", "Demand"),
    ("ageing.", "Demand"),
    ("energy.", "Energy and money"),
    ("fx.", "Energy and money"),
)


def _vendor(v: str) -> str:
    return _VENDOR_NAMES.get(v, v)


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def label(name: str) -> str:
    """The plain label of a parameter (e.g. ``grey.per_year`` -> "Smuggled cards per year")."""
    if name in _LABELS:
        return _LABELS[name]
    parts = name.split(".")
    if parts[0] == "products" and len(parts) == 3:
        spec = load_catalogue().get(parts[1], {})
        return f"{spec.get('name', parts[1])}: {_PRODUCT_FIELDS.get(parts[2], parts[2])}"
    if parts[0] == "buyers" and len(parts) == 3:
        return f"{parts[1]}: {_BUYER_FIELDS.get(parts[2], parts[2])}"
    if parts[0] == "capacity" and len(parts) == 3:
        what = "cards made for China in 2025" if parts[2] == "cards_2025" else "output growth per year"
        return f"{_cap(_vendor(parts[1]))}: {what}"
    if parts[0] == "maturity" and len(parts) == 2:
        who = f"{_cap(_vendor(parts[1]))}'" if parts[1] in _VENDOR_NAMES else f"{parts[1]}'s"
        return f"{who} software maturity in 2022 (CUDA = 1)"
    return name


def group(name: str) -> str:
    for prefix, g in _GROUP_RULES:
        if name == prefix or name.startswith(prefix):
            return g
    return "Demand" if name.startswith("demand") else GROUPS[-1]


def sub_key(name: str) -> str | None:
    """For the two big groups, the item the parameter belongs to (a buyer or a chip), else None."""
    parts = name.split(".")
    if parts[0] in ("buyers", "products") and len(parts) == 3:
        return parts[1]
    return None


def sub_label(key: str) -> str:
    if key in BUYERS:
        return key
    return load_catalogue().get(key, {}).get("name", key)


@dataclass(frozen=True)
class Labelled:
    name: str
    label: str
    group: str


def all_labels() -> list[Labelled]:
    return [Labelled(n, label(n), group(n)) for n in PARAMS]


def by_group() -> dict[str, list[str]]:
    """Parameter names per group, groups in GROUPS order, parameters in table order."""
    out: dict[str, list[str]] = {g: [] for g in GROUPS}
    for n in PARAMS:
        out[group(n)].append(n)
    return {g: v for g, v in out.items() if v}


def markdown(products: bool = False) -> str:
    """The label table for docs/APP.md (``python -m sim.labels``)."""
    lines = ["| group | label | name |", "|---|---|---|"]
    for g, names in by_group().items():
        if g == "Chip specifications" and not products:
            lines.append(f"| {g} | *chip*: training performance, inference performance, peak compute, list price, "
                         "board power | `products.<chip>.<field>` |")
            continue
        for n in names:
            lines.append(f"| {g} | {label(n)} | `{n}` |")
    return "\n".join(lines)


# ---------------------------------------------------------------- grid outcomes and axes

_SHARE_WORDS = {"share": "share of cards", "value_share": "share of sales value", "compute_share": "share of compute"}
_METRIC_WORDS = {"service_level": "share of demand served", "compute_gap": "compute gap (share of wanted compute "
                 "not installed)", "domestic_fraction": "domestic share of deliveries", "stockpile_units":
                 "unopened stockpile (cards)", "unmet_compute": "unmet compute demand", "price_index": "price index",
                 "installed_compute": "installed compute", "units": "cards delivered", "revenue_usd": "sales (US$)",
                 "levy_usd": "levies paid (US$)", "grey_units": "smuggled cards",
                 "offshore_compute": "compute served abroad", "offshore_usd": "spent on compute abroad (US$)",
                 "efficiency": "software efficiency (x)",
                 "smic_ai_wafers": "SMIC advanced wafers for AI chips", "smic_wafers_used":
                 "SMIC AI wafers used by domestic vendors", "hbm_stacks_used": "HBM stacks drawn from China's pool"}
_FIELD_WORDS = {"domestic_min": "domestic minimum", "rate": "rate", "coverage": "coverage", "tpp_max":
                "performance ceiling (TPP)", "effective": "month in force", "timing": "month in force",
                "announced": "month announced", "strength": "strength", "probability": "monthly approval chance",
                "cap": "cap"}


def _owner(entity: str) -> str:
    """"Nvidia's", "Domestic vendors'", "Tencent's"."""
    if entity == "Domestic":
        return "Domestic vendors'"
    if entity == "Foreign":
        return "Foreign vendors'"
    name = _cap(_vendor(entity))
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def outcome(name: str) -> str:
    """Plain words for a grid outcome name (``sim.experiments.summarize``): ``share:Nvidia:2030`` ->
    "Nvidia's share of cards in 2030"; unknown forms are returned as they are."""
    parts = name.split(":")
    kind = parts[0]
    year = f" in {parts[-1]}" if parts[-1].isdigit() else ""
    if kind in _SHARE_WORDS and len(parts) >= 2:
        return f"{_owner(parts[1])} {_SHARE_WORDS[kind]}{year}"
    if kind == "crossover" and len(parts) == 3:
        return f"Year {_cap(_vendor(parts[1]))} first sells more cards than {_cap(_vendor(parts[2]))}"
    if kind in ("mean", "sum") and len(parts) >= 3:
        what = _METRIC_WORDS.get(parts[2], parts[2].replace("_", " "))
        how = "monthly mean" if kind == "mean" else "total"
        who = "Market" if parts[1] == "Total" else _cap(_vendor(parts[1]))
        return f"{who}: {what}, {how}{year or ' over the horizon'}"
    return name


def _short(text: str, limit: int = 34) -> str:
    head = text.split(":")[0].strip()
    if len(head) <= limit:
        return head
    cut = head[:limit].rsplit(" ", 1)[0]
    return cut + "…"


def grid_axis(axis, events=None) -> str:
    """Plain words for a grid axis (``sim.experiments.grid.Axis``): a parameter's label, or an event's
    short name and field (``events``: the base scenario's events, for their names)."""
    if axis.parameter:
        return label(axis.parameter)
    names = {e.id: (e.label or e.id) for e in (events or ())}
    what = _FIELD_WORDS.get(axis.field, str(axis.field).replace("_", " "))
    return f"{_short(names.get(axis.event, axis.event))}: {what}"


if __name__ == "__main__":  # pragma: no cover - documentation helper
    print(markdown())
