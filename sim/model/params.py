"""The parameter table: one definition drives validation, the CLI's `describe`, the app's sliders and docs.

Every parameter has units, hard bounds (validation), a plausible range (the prior used for uncertainty
bands and sampling) and a source. Where facts.md has no number, the source says so and the range is the
stated uncertainty. Parameters marked ``calibrate`` are the few fitted by ``python -m sim calibrate``.
Product fields (``products.<id>.<field>``) are added from the product catalogue.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from sim.model.ids import BUYERS

FACTS = "facts.md"
CAL = "calibration_targets.csv"
NOT_FOUND = "NOT FOUND in facts.md: stated assumption, the range is the uncertainty"


@dataclass(frozen=True)
class Param:
    name: str
    default: float
    units: str
    lo: float
    hi: float
    source: str
    group: str
    help: str = ""
    range: tuple[float, float] | None = None
    calibrate: bool = False
    kind: str = "float"  # float | int | bool

    @property
    def prior(self) -> tuple[float, float]:
        return self.range if self.range is not None else (self.lo, self.hi)

    def check(self, value: Any) -> str | None:
        """Return a reason string when ``value`` is not acceptable, else None."""
        if self.kind == "bool":
            return None if isinstance(value, bool) else f"must be true or false, got {value!r}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be a number, got {value!r}"
        if not math.isfinite(float(value)):
            return f"must be finite, got {value!r}"
        if self.kind == "int" and float(value) != int(value):
            return f"must be a whole number, got {value!r}"
        if not (self.lo <= float(value) <= self.hi):
            return f"{value!r} is outside the bounds [{self.lo:g}, {self.hi:g}] {self.units}".rstrip()
        return None


_P: list[Param] = []


def _p(name, default, units, lo, hi, source, group, help="", range=None, calibrate=False, kind="float"):
    _P.append(Param(name, default, units, lo, hi, source, group, help, range, calibrate, kind))


# ---------------------------------------------------------------- market demand
_p("demand.base_2022", 50000, "AEC/month", 5000, 200000,
   f"{CAL}: IDC H1-2023 >500k cards, of which >50k domestic (calibration_targets.csv); fitted with the growth "
   "rate, which the 2023 and 2025 totals pin together", "buyers",
   "New compute wanted by all buyers in 2022-01 (A100-equivalents per month).", (30000, 60000), calibrate=True)
_p("demand.growth_2022", 0.24, "1/year", 0.0, 2.0,
   "IDC: China's accelerated-server market $6.7 bn in 2022, +24% on 2021, before generative AI (JW Insights, "
   "https://jw.ijiwei.com/n/862462); compute per dollar rose, so compute grew at least as fast (upper end "
   "NOT FOUND)", "buyers",
   "Annual growth of wanted new compute before the generative-AI step (from 2022-01 to demand.genai_onset).",
   (0.2, 0.5))
_p("demand.genai_onset", 12, "months", 0, 36,
   "ChatGPT released 2022-11-30; China's large-model launches from March 2023 (Baidu Ernie Bot, 2023-03-16); "
   "IDC: China's accelerated-server market +54% in H1 2023 on H1 2022 (https://jw.ijiwei.com/n/880004) after "
   "+24% in 2022 (https://jw.ijiwei.com/n/862462)", "buyers",
   "Months after 2022-01 at which wanted compute switches from demand.growth_2022 to demand.growth_annual "
   "(12: January 2023).", (11, 15), kind="int")
_p("demand.growth_annual", 0.5, "1/year", 0.0, 2.0,
   f"{CAL}: >500k cards in H1-2023 (IDC: 1.0-1.3 M a year) vs 3.4-4.6 M cards in 2025 (IDC) is 53-97%/year in "
   "cards over the 2.25 years between the periods' middles; IDC's accelerated-server value grew 54% (H1 2023 on "
   "H1 2022, https://jw.ijiwei.com/n/880004) and 135% ($9.4 bn in 2023 -> $22.1 bn in 2024, facts.md b). "
   "Compute per card and per dollar rose over the period, so compute grew at least as fast", "buyers",
   "Annual growth of wanted new compute from the generative-AI step (demand.genai_onset) to mid-2025.",
   (0.5, 1.4), calibrate=True)
_p("demand.growth_after_2025", 0.35, "1/year", 0.0, 2.0,
   "facts.md (b): Bernstein market value $37 bn (2025) -> $69 bn (2027 forecast), about 37%/year", "buyers",
   "Annual growth of wanted new compute after mid-2025.", (0.15, 0.6))
_p("demand.price_elasticity", 0.3, "-", 0.0, 2.0, NOT_FOUND, "buyers",
   "How strongly wanted compute falls when the price per unit of compute rises.", (0.0, 0.8))
_p("demand.backlog_decay", 0.4, "1/month", 0.0, 1.0, NOT_FOUND, "buyers",
   "Share of unmet (deferred) compute abandoned each month, so unmet demand stays bounded.", (0.2, 0.7))
_p("demand.budget_headroom", 1.6, "x", 1.0, 5.0, NOT_FOUND, "buyers",
   "Monthly capex budget as a multiple of the spend on wanted compute at reference prices; caps hoarding.",
   (1.2, 2.5))
_p("demand.capex_window_months", 12, "months", 1, 12,
   "facts-v2.md 4: capex is planned by the year (ByteDance 2026 plan RMB160bn, ~RMB85bn on AI processors "
   "https://pandaily.com/byte-dance-plans-rmb-160-billion-in-capital-spending-for-2026-with-half-allocated-to-ai-chips ; "
   "Alibaba >RMB380bn over 3 years https://www.mobileworldlive.com/ai-cloud/alibaba-outlines-aggressive-3-year-ai-capex-plan/) "
   "and spent unevenly within it (Tencent quarterly capex RMB36.6bn Q4-2024, 27.5bn Q1-2025, 13.0bn Q3-2025 "
   "http://asiaict.com/cloud/12451.html)", "buyers",
   "Capex is budgeted for windows of this many calendar months (12: a calendar-year budget, 3: quarters); "
   "a buyer may spend a window's whole budget in any of its months, so buying ahead of a rule is financed "
   "from the year's budget, and later months of the window then have less (1: each month's budget only, "
   "as in the first calibration).",
   (1, 12), kind="int")
_p("demand.capex_carry_months", 0.0, "months", 0.0, 24.0,
   f"{NOT_FOUND}: MODEL.md 9.4 (unspent budget carried forward for a bounded number of months); capex is "
   "planned by the year (facts-v2.md 4: ByteDance, Alibaba, Tencent annual capex plans)", "buyers",
   "Budget left unspent at the end of a capex window is carried into the next, up to this many months of "
   "budget.", (0.0, 12.0))
for _t, _v, _why in (
    ("frontier_training", 0.15, "frontier model training"),
    ("training", 0.25, "other training and fine-tuning"),
    ("inference", 0.40, "production inference"),
    ("low_priority", 0.20, "internal, batch and low-priority work"),
):
    _p(f"demand.tier_share.{_t}", _v, "share", 0.0, 1.0, NOT_FOUND, "buyers",
       f"Share of each buyer's compute demand for {_why} (normalised to sum to 1).")

_BUYER_DEFAULTS = {
    # buyer: (demand share, state-linked share, CUDA dependence)
    "ByteDance": (0.16, 0.05, 0.9),
    "Alibaba": (0.14, 0.10, 0.85),
    "Tencent": (0.154, 0.05, 0.9),   # ByteDance's 0.16 x Tencent's 2024 capex RMB 76.8 bn / ByteDance's ~RMB 80 bn
    "Baidu": (0.07, 0.10, 0.8),
    "OtherInternet": (0.16, 0.10, 0.85),
    "StateCompute": (0.20, 1.00, 0.6),
    "Enterprise": (0.15, 0.30, 0.8),
}
_OFFSHORE = {
    # buyer: (share of unmet training compute served abroad, prior range, source)
    "ByteDance": (0.5, (0.1, 0.55),
                  "facts.md (d): FT: ByteDance's 2025 AI infrastructure $12 bn = $5.5 bn AI chips in China + $6.8 bn "
                  "overseas (https://verdict.co.uk/news/bytedance-ai-infrastructure-investment), Reuters 'about half "
                  "overseas'; facts-v2.md 4: ~36,000 B200 rented in Malaysia (https://morningoverview.com/report-"
                  "bytedance-taps-nvidia-ai-chips-via-malaysia-buildout); the default is that overseas half; the part "
                  "of it serving work ByteDance could not equip in China is NOT FOUND (the range)"),
    "Alibaba": (0.25, (0.0, 0.5),
                f"{NOT_FOUND}: MODEL.md 9.5 names Alibaba as an offshore user; no Alibaba offshore volume in "
                "facts.md or facts-v2.md, so half of ByteDance's share with a wide range"),
}
for _b in BUYERS:
    _s, _st, _cd = _BUYER_DEFAULTS[_b]
    _p(f"buyers.{_b}.demand_share", _s, "share", 0.0, 1.0,
       "facts.md (b): Tencent and ByteDance ~230k Hopper each in 2024 (Omdia via FT); 2024 capex of the same size: "
       "Tencent RMB 76.8 bn (facts-v2.md 4), ByteDance ~RMB 80 bn (Zheshang Securities via SCMP, "
       "https://omnesmedia.com/en/post/24869), Alibaba ~US$10 bn (facts-v2.md 4), so Tencent = 0.16 x 76.8/80 and "
       "Alibaba 0.14; ByteDance's level and the other buyers' shares NOT FOUND (stated assumption)", "buyers",
       f"{_b}'s share of market demand (normalised).")
    _p(f"buyers.{_b}.state_linked", _st, "share", 0.0, 1.0,
       "facts.md (a): state funds >$100 bn in AI data centres since 2021 (Reuters); split by buyer NOT FOUND",
       "buyers", f"Share of {_b}'s demand that is state-funded or state-linked (mandates apply to it).")
    _p(f"buyers.{_b}.cuda_dependence", _cd, "0-1", 0.0, 1.0, NOT_FOUND, "buyers",
       f"How much of {_b}'s software depends on CUDA (scales switching cost).")
    _o, _orng, _osrc = _OFFSHORE.get(_b, (0.0, (0.0, 0.2), "no offshore build-out or rental reported in facts.md "
                                           "or facts-v2.md (stated assumption)"))
    _p(f"buyers.{_b}.offshore_share", _o, "share", 0.0, 1.0, _osrc, "buyers",
       f"Share of {_b}'s unmet training compute it serves abroad each month (offshore.enabled).", _orng)

# ---------------------------------------------------------------- choice
_p("choice.price_weight", 2.0, "utility/log($ per AEC)", 0.0, 10.0, NOT_FOUND, "buyers",
   "Weight on log cost per unit of compute (price, energy, levies, subsidies).", (1.0, 4.0))
_p("choice.switching_scale", 4.0, "utility", 0.0, 10.0,
   "facts.md (software ecosystem): porting cost NOT FOUND; mandates and subsidies were needed (proxy signal)",
   "buyers", "Switching cost of a vendor with zero ecosystem maturity for fully CUDA-dependent frontier work.",
   (1.0, 5.0), calibrate=True)
for _t, _v in (("frontier_training", 1.0), ("training", 0.7), ("inference", 0.35), ("low_priority", 0.15)):
    _p(f"choice.tier_switching.{_t}", _v, "x", 0.0, 2.0,
       "facts.md (a) Tencent Nov 2023 (inference and lower priority work move first); DeepSeek back to Nvidia "
       "for training (FT Aug 2025); size NOT FOUND", "buyers",
       f"Relative switching cost for the {_t} tier.")
for _t, _v, _rng in (("frontier_training", 0.4, (0.0, 0.47)), ("training", 0.4, (0.0, 0.47))):
    _p(f"tiers.min_train_perf.{_t}", _v, "A100 = 1", 0.0, 3.0,
       "facts-v2.md 7: DeepSeek trained V3 on H800 and turned to the H20 (0.47 A100 in training) for R2 "
       "(https://news.omeganext.com/en/article/2025-08-14-huawei-chip-issues-delay-deepseeks-r2-llm-forces-nvidia-switch), "
       "so an H20 serves training; facts-v2.md 4: Tencent moved inference to lower-end chips and kept high-end "
       "ones for training (https://www.scmp.com/tech/big-tech/article/3241793/tencent-can-shoulder-latest-us-tech-"
       "export-restrictions-internet-giant-has-large-stockpile-much); the least training performance that still "
       "serves the tier is NOT FOUND: 0.4, just under the H20, is a stated assumption (it leaves the "
       "A10/L20/L2 class, 0.15, to inference)", "buyers",
       f"Least training performance per card (A100 = 1) that serves the {_t} tier; a card below it is left out "
       "of the tier's choice (it serves the tier only when no card that fits may be bought). 0: every card "
       "serves every tier, as in the first calibration.", _rng)
for _t, _rng in (("frontier_training", (0.0, 400.0)), ("training", (0.0, 400.0))):
    _p(f"tiers.min_interconnect.{_t}", 0.0, "GB/s", 0.0, 5000.0,
       "facts-v2.md 7: DeepSeek V3 was trained on 2,048 H800 (400 GB/s NVLink) "
       "(https://bmmut.com/full/17854), so 400 GB/s serves frontier training; the least that serves is NOT FOUND "
       "(PCIe-only cards such as the L20 and RTX Pro 6000D have 64 GB/s)", "buyers",
       f"Least card-to-card bandwidth that serves the {_t} tier (a card below it is left out of the tier's "
       "choice, as for tiers.min_train_perf). 0: no minimum.", _rng)
_p("choice.experience_weight", 0.5, "0-1", 0.0, 1.0, NOT_FOUND, "buyers",
   "How much a buyer's own installed domestic base lowers its switching cost.")
_p("choice.risk_weight", 1.5, "utility", 0.0, 10.0, NOT_FOUND, "buyers",
   "Utility lost on foreign products per unit of expected-disruption belief.", (0.5, 3.0))
_p("choice.policy_weight", 1.0, "utility", 0.0, 10.0, NOT_FOUND, "China",
   "Utility gained on domestic products per unit of Chinese purchase guidance, for state-linked demand.",
   (0.3, 2.0))
_p("choice.block_weight", 3.0, "utility", 0.0, 20.0, NOT_FOUND, "China",
   "Utility lost (x choice.policy_weight) per unit of a partial Chinese block on a product.")
_p("choice.nest_vendor", 0.7, "-", 0.05, 1.0, NOT_FOUND, "buyers",
   "Nested-logit dissimilarity of vendors within an origin (1 = plain logit).")
_p("choice.nest_product", 0.5, "-", 0.05, 1.0, NOT_FOUND, "buyers",
   "Nested-logit dissimilarity of products within a vendor (must not exceed choice.nest_vendor).")
_p("choice.taste_sd", 0.15, "utility", 0.0, 2.0, NOT_FOUND, "buyers",
   "Standard deviation of the monthly taste shock per buyer and vendor.")

# ---------------------------------------------------------------- anticipation and hoarding
_p("anticipation.jump", 0.8, "0-1", 0.0, 1.0,
   "facts.md (a): Aug-2023 $5 bn orders; Dec-2024 HBM rush; H20 rush before the April 2025 rule ($4.6 bn "
   "shipped Feb-Apr 2025 and $2.5 bn more ordered, Nvidia Q1 FY2026 results "
   "https://www.ai-360.online/nvidia-reports-44-1b-q1-revenue-despite-4-5b-china-export-impact)",
   "buyers", "Belief that foreign supply will be cut, set when a restricting rule is announced.")
_p("anticipation.decay", 0.93, "1/month", 0.0, 1.0, NOT_FOUND, "buyers",
   "Monthly persistence of the belief (0.93 = half-life of about 10 months).", (0.85, 0.98))
_p("anticipation.easing", 0.5, "0-1", 0.0, 1.0, NOT_FOUND, "buyers",
   "Factor applied to the belief when a rule is eased.")
_p("anticipation.class_weight", 1.0, "0-1", 0.0, 1.0,
   f"{NOT_FOUND}: MODEL.md 9.4 (a rule expected on a class puts that class at risk before it is announced); "
   "facts.md (a),(d): the H20 rush before the April 2025 rule, announced the month it bound ($4.6 bn shipped "
   "Feb-Apr 2025 and $2.5 bn more ordered, Nvidia Q1 FY2026 results)",
   "buyers", "How much a legal foreign product near the US ceiling counts as at risk while buyers expect "
   "more controls (their belief), before any rule naming it is announced (1: as much as a product a rule names; 0: only announced "
   "rules, as in the first calibration). 1 is a stated assumption.", (0.0, 1.0))
_p("anticipation.near_ceiling", 0.4, "x ceiling", 0.05, 1.0,
   f"{NOT_FOUND}: the Apr-2025 rule caught the H20 at about half the Oct-2023 TPP ceiling (facts.md (c): "
   "H20 TPP ~2,370 vs ceiling 4,800)", "buyers",
   "A legal foreign product whose TPP is at least this share of the US ceiling is exposed to the next "
   "tightening (the class buyers expect a rule on).", (0.3, 0.8))
_p("hoarding.strength", 1.5, "months of demand", 0.0, 24.0,
   "facts.md (a),(d): Aug-2023 $5 bn of orders; H20 sales of $4.6 bn in Feb-Apr 2025 before the Apr-2025 rule and $2.5 bn more ordered (Nvidia Q1 FY2026 results); prior "
   "0-12 months: Tencent's stockpile was 'large' in Nov 2023 (https://www.scmp.com/tech/big-tech/article/"
   "3241793/tencent-can-shoulder-latest-us-tech-export-restrictions-internet-giant-has-large-stockpile-much) "
   "and 'enough for a few more generations' of models in May 2025 "
   "(https://www.theregister.com/2025/05/15/tencent_q1_25/), i.e. a year or more of purchases",
   "buyers", "Stockpile a buyer aims to hold of a product at risk, in months of its orders of that product, "
   "at full belief; it orders the gap to its unopened stock.",
   (0.0, 12.0), calibrate=True)
_p("hoarding.general", 0.3, "x", 0.0, 3.0, NOT_FOUND, "buyers",
   "Stockpile target of every foreign product at full belief, in months of its orders (added to a product's "
   "risk before hoarding.strength scales it).")
_p("stockpile.open_rate", 0.08, "1/month", 0.0, 1.0,
   "facts.md (a): Tencent Nov 2023 'enough chips for a couple more generations'; rate NOT FOUND",
   "buyers", "Share of the unopened stockpile put into service each month.")
_p("efficiency.max", 1.3, "x", 1.0, 3.0,
   "facts.md (a): Tencent plans to 'use chips more efficiently'; size NOT FOUND", "buyers",
   "Upper bound of the software-efficiency multiplier of a buyer short of compute.")
_p("efficiency.rate", 0.05, "1/month", 0.0, 1.0, NOT_FOUND, "buyers",
   "Speed at which a short buyer moves toward the efficiency bound.")
_p("ageing.lifetime_months", 60, "months", 12, 180, NOT_FOUND, "buyers",
   "Mean service life of an installed card (retirement is exponential).", (48, 84))

# ---------------------------------------------------------------- vendors and supply
_p("huawei.wafers_2024", 300, "wafers/month", 0, 20000,
   f"{CAL}: ~200k 910B made in 2024 (FT/Digitimes) at ~50% yield and 78 dies/wafer", "vendors",
   "SMIC 7 nm wafers started for Ascend per month at mid-2024 (the path is linear between mid-year points, from zero at mid-2023).", (150, 1000))
_p("huawei.wafers_2025", 3000, "wafers/month", 0, 20000,
   "facts.md (d): Morgan Stanley ~7,000/month for Ascend (upper end); FT 2025 plan 300k 910B + 100k 910C (lower)",
   "vendors", "SMIC wafers for Ascend per month at mid-2025.", (1000, 7000))
_p("huawei.wafers_2026", 6000, "wafers/month", 0, 40000,
   "facts.md (d): SMIC advanced capacity 22k (MS) to 45k (SemiAnalysis) wpm, doubling into 2026", "vendors",
   "SMIC wafers for Ascend per month at mid-2026.", (3000, 12000))
_p("huawei.wafer_growth", 0.3, "1/year", 0.0, 2.0,
   "facts.md (d): SemiAnalysis 45k -> 60k -> 80k wpm (2025-27), about 30%/year", "vendors",
   "Growth of Ascend wafer starts after 2026.")
_p("huawei.transition_months", 0, "months", 0, 36,
   "MODEL.md 9.2 (a product transition ramps over months); facts.md (d): 910C yield ~20% (Sep-Oct 2024) -> "
   "~40% (Feb 2025); the pace of moving wafers to a new product is NOT FOUND", "vendors",
   "Months over which the newest Ascend's least share of Huawei's wafers rises from 0 to a half (0: a half "
   "from its launch month, as in the calibrated history).", (0, 12), kind="int")
_p("huawei.yield_max", 0.6, "0-1", 0.05, 1.0, "facts.md (d): 910C target yield 60% (FT via Digitimes)", "vendors",
   "Yield that learning approaches.")
_p("huawei.yield_learning_wafers", 20000, "wafers", 1000, 500000,
   "facts.md (d): 910C yield ~20% (Sep-Oct 2024) -> ~40% (Feb 2025)", "vendors",
   "Cumulative wafers of a product that close 63% of the gap to the target yield.")
_p("huawei.yield_noise", 0.05, "sd of log", 0.0, 0.5, NOT_FOUND, "vendors",
   "Month-to-month noise in yield.")
_p("huawei.die_bank", 2.9e6, "dies", 0, 5e6, f"{CAL}: TSMC die bank 2.9 M (SemiAnalysis), 2.1 M lower estimate",
   "vendors", "TSMC-made Ascend dies held before the Nov-2024 cut-off.", (2.1e6, 2.9e6))
_p("huawei.die_bank_draw", 80000, "dies/month", 0, 1e6,
   "facts.md (d): die bank 'enough for 2024-25, runs out about mid-2026' (SemiAnalysis)", "vendors",
   "Dies drawn from the bank per month once 910C packaging starts.", (50000, 160000))
_p("huawei.hbm_stock", 1.3e7, "stacks", 0, 5e7, f"{CAL}: ~11.4-13 M HBM stacks stockpiled in China (SemiAnalysis)",
   "vendors", "Foreign HBM stacks available for Ascend when HBM exports stop.", (1.14e7, 1.3e7))
_p("huawei.domestic_hbm_2026", 100000, "stacks/month", 0, 5e6,
   "facts.md addendum: CXMT sent HBM3 samples to Huawei; volume NOT FOUND", "vendors",
   "Domestic HBM stacks per month from 2026 for products that need foreign-type HBM.", (0, 400000))
_p("huawei.domestic_hbm_growth", 0.5, "per year", 0.0, 3.0,
   f"{NOT_FOUND} (a forward-looking assumption): facts-v2.md 3: CXMT began HBM2 mass production in 2024, sent "
   "HBM3 samples to Huawei in 2025 and was still sampling in April 2026, '3-4 years behind' (DigiTimes), and plans "
   "to give ~20% of its DRAM wafers (~60 k a month) to HBM3 (Maeil Business, https://semiwiki.com/forum/threads/"
   "cxmt-plans-to-allocate-a-%E2%80%9Clarge-chunk%E2%80%9D-of-its-dram-production-to-hbm3-hoping-to-compete-in-"
   "the-ai-race.24537/post-97418); Huawei makes its own HBM for the 950 (HiBL 1.0, facts-v2.md 3). The range "
   "runs from no growth (CXMT stays at samples) to doubling every year, which reaches ~1.6 M stacks a month by "
   "2030 from 100 k: about CXMT's planned 60 k wafers a month at ~16-26 good 8-high stacks per wafer (a 16 Gb "
   "HBM3 die at 0.16 Gb/mm2 gives ~600 dies per wafer, SemiAnalysis via https://drops-154.pages.dev/memory/wiki/"
   "supply/hbm-packaging-bottleneck/; die yield 0.5-0.8; 8-high stacking yield ~43%, https://lilys.ai/notes/en/"
   "ai-semiconductor-20251127/hbm-ai-memory-4-unanswered-questions); the default is the middle of the range",
   "vendors", "Yearly growth of the domestic HBM stacks a month from January 2026 (huawei.domestic_hbm_2026 "
   "then).", (0.0, 1.0))
_p("vendors.markup_max", 0.3, "share", 0.0, 2.0, NOT_FOUND, "vendors",
   "Largest price increase a vendor applies when orders exceed capacity.")
_p("vendors.compliant_sku_lag", 5, "months", 0, 36,
   "facts.md (a): Oct-2022 rule (is-informed letters Aug 2022) -> A800 in production Q3 2022 (0-3 months); "
   "Oct-2023 rule, binding Nov 2023 -> H20 shipped Apr 2024 (5 months); Apr-2025 H20 licence rule -> RTX Pro "
   "6000D (B40) in production Jun 2025, announced Jul 2025 (2-3 months, facts-v2.md 2 "
   "https://in.marketscreener.com/quote/stock/NVIDIA-CORPORATION-57355629/news/Nvidia-prepares-lighter-Blackwell-chip-for-China-in-response-to-US-restrictions-50063131/)",
   "vendors",
   "Months after a new US export ceiling takes effect at which a foreign vendor with no China-specific part "
   "the rules allow launches one just under the ceiling (only for ceilings after its last China-specific "
   "catalogue part).", (2, 8), kind="int")
_p("vendors.compliant_tpp_share", 0.9, "x ceiling", 0.05, 1.0,
   "facts.md (c): the H20 sits at 0.49 of the 4,800 TPP ceiling (a performance-density test bound it too); "
   "the B30A was rumoured as half a B300 (facts-v2.md 2 "
   "https://www.tomshardware.com/tech-industry/artificial-intelligence/trump-says-no-blackwell-chips-to-be-sold-to-china-nvidia-re-entry-into-beijing-nixed-despite-temporary-trade-truce); "
   "where in the band a part sits is NOT FOUND", "vendors",
   "TPP of a compliant part as a share of the US TPP ceiling it is designed under (it is the vendor's newest "
   "flagship scaled down to that TPP).", (0.5, 0.95))
_p("vendors.compliant_link_train", 0.7, "x", 0.1, 1.0,
   "facts.md (c): the A800 (NVLink cut from 600 to 400 GB/s) ran at ~70% of A100 speed in clusters (FT via "
   "technode)", "vendors",
   "Training performance kept by a compliant part made by cutting interconnect under a rule with an "
   "interconnect threshold (A800/H800 pattern).", (0.6, 0.9))
_p("prices.decline_annual", 0.15, "1/year", 0.0, 0.6,
   "facts-v2.md 1: H20 $12-13k (2024) -> $10-12k (May 2025), about -11%/year; H200 MSRP ~$32k (2024) -> ~$20k "
   "paid in China (Dec 2025, FT), about -22%/year; H20 8-GPU server RMB 1.4 M (Feb 2024) -> 1.2 M (Jul 2024)",
   "vendors",
   "Annual fall of the price of a foreign product with a price path after its last sourced price (a learning "
   "path; the price of a compliant part falls from its launch the same way).", (0.10, 0.25))
_p("vendors.halt_on_block", 0.8, "0-1", 0.0, 1.0,
   "facts.md (a): H20 production halted in Aug 2025 after Chinese pushback (The Information)", "vendors",
   "China block strength at which a foreign vendor halts a product's China production.")
_p("domestic.price_markup", 1.6, "x unit cost", 0.5, 5.0,
   "facts-v2.md 1: prices paid over unit cost (Morgan Stanley, facts.md c): Ascend 910B ~RMB 120k per card (Reuters, "
   "Feb 2024 https://dunyanews.tv/amp/english/788751.php) over RMB 50k = 2.4; Ascend 910C at most US$8.2 M per "
   "CloudMatrix 384 system / 384 = $21.4k (https://www.capacitymedia.com/article-huawei-unveils-cloudmatrix-384) over "
   "RMB 110k = 1.4; other vendors' prices NOT FOUND", "vendors",
   "Domestic selling price as a multiple of the catalogue price (the unit cost) for a domestic product without a "
   "sourced price path (products with one follow the prices paid).",
   (1.4, 2.4))
_p("domestic.capacity_scale", 1.0, "x", 0.1, 5.0,
   "facts.md (b): domestic ~1.65 M cards in 2025 (IDC); per-vendor split NOT FOUND", "vendors",
   "Common scale on the exogenous capacity ramps of the non-Huawei domestic vendors.", (0.5, 2.0),
   calibrate=True)
_CAP = {
    # vendor: (cards in 2025, annual growth) -- split NOT FOUND; Kunlun ~70k in 2024 [C]
    "Cambricon": (220000, 1.0),
    "T-Head": (120000, 1.0),
    "Kunlunxin": (140000, 1.0),
    "Hygon": (200000, 1.0),
    "OtherDomestic": (250000, 1.0),
}
for _v, (_c, _g) in _CAP.items():
    _p(f"capacity.{_v}.cards_2025", _c, "cards/year", 0, 5e6,
       "facts.md (b): Kunlunxin ~70k in 2024 [C]; domestic total ~1.65 M in 2025 (IDC); split NOT FOUND",
       "vendors", f"{_v} China-available output in 2025.", (0.5 * _c, 2.0 * _c))
    _p(f"capacity.{_v}.growth", _g, "1/year", 0.0, 3.0, NOT_FOUND, "vendors",
       f"Annual growth of {_v} output (applied before and after 2025).")
_SMIC = ("facts.md (d) SMIC advanced-node capacity, conflicting: Morgan Stanley 22 k wpm (2025) -> 42 k (2026) "
         "https://ng.investing.com/news/stock-market-news/morgan-stanley-upgrades-smic-on-rising-demand-for-chinamade-ai-chips-2155693 ; "
         "SemiAnalysis 45 k (end-2025) -> 60 k (2026) -> 80 k (2027)")
_p("supply.amd_china_usd_2024", 1.125e9, "US$/year", 0.0, 2e10,
   "AMD's Instinct revenue ~US$5 bn in 2024 (AMD's Q3-2024 call via The Register, "
   "https://gfmreview.com/technology/amd-teases-its-gpu-biz-approaching-the-scale-of-cpu-operations) x China's share "
   "of a US vendor's data-centre sales before the controls, 20-25% ('as much as a quarter', Nvidia's CFO via CNBC, "
   "https://westvirginiadigitalnews.com/2024/02/22/nvidia-earnings-china-drops-to-mid-single-digit-share-of-data-"
   "center-revenue); the default is the middle of that range. The MI308 made for China draws on it too: AMD's "
   "US$800 M charge for MI308 inventory and commitments when the April 2025 rule stopped it was 16% of its 2024 "
   "Instinct revenue (https://theglobalpractice.com/?p=4353), the scale of this supply, not of an unlimited one",
   "vendors",
   "Value of AMD's parts for China (catalogue china_supply: the MI308 and the world-market MI300X and later) that "
   "can be made for China in a year at mid-2024, shared equally among those launched and legal that month (their "
   "capacity in cards is this / 12 / n / price).", (1.0e9, 1.25e9))
_p("supply.amd_growth", 0.32, "1/year", 0.0, 3.0,
   "AMD's data-centre segment revenue US$16.6 bn in 2025, +32% (AMD FY2025 via "
   "https://businessmodelcraft.com/en/examples/amd); the Instinct line's own growth NOT FOUND", "vendors",
   "Annual growth of supply.amd_china_usd_2024 from mid-2024.", (0.2, 1.0))
_p("supply.hbm_shared", False, "on/off", 0, 1,
   "MODEL.md 9.2 (shared HBM pool); facts.md (d): the ~11.4-13 M HBM stacks stockpiled are Chinese companies' "
   "(Reuters, https://www.kernel-sesias.net/chinese-companies-are-stockpiling-hbm2e-chips-ahead-of-new-u-s-export-rules/). "
   "Off by default: with it on, 2026 Ascend output is 0.44 M cards (inside the sourced 0.3-0.6 M) but the market "
   "shrinks to ~0.6 M cards and ~$9 bn in 2027 against Bernstein's $69 bn, because domestic HBM is held at "
   "huawei.domestic_hbm_2026 a month with no ramp (CXMT's HBM volume NOT FOUND)", "vendors",
   "The other domestic vendors' HBM cards draw on China's HBM pool after Huawei once foreign HBM is cut "
   "(off: only Ascend cards draw on it).", kind="bool")
_p("supply.smic_pool", True, "on/off", 0, 1,
   "MODEL.md 9.2; facts.md (a) 2024-11-11: TSMC stops 7 nm AI dies for Chinese designers, so domestic supply "
   "depends on SMIC", "vendors",
   "After the TSMC cut-off, the non-Huawei domestic vendors share what is left of SMIC's advanced-node wafers "
   "for AI chips once Huawei's wafers are served (off: their exogenous ramps only).", kind="bool")
_p("smic.advanced_wpm_2025", 33500, "wafers/month", 0, 500000, _SMIC + "; the midpoint of the two 2025 figures",
   "vendors", "SMIC 7 nm-and-below wafer starts per month at mid-2025 (linear between mid-year points).",
   (22000, 45000))
_p("smic.advanced_wpm_2026", 51000, "wafers/month", 0, 500000, _SMIC + "; the midpoint of 42 k and 60 k",
   "vendors", "SMIC advanced-node wafer starts per month at mid-2026.", (42000, 60000))
_p("smic.advanced_wpm_2027", 80000, "wafers/month", 0, 500000,
   _SMIC + "; 2027 from SemiAnalysis only, range NOT FOUND (stated +-25%)", "vendors",
   "SMIC advanced-node wafer starts per month at mid-2027.", (60000, 100000))
_p("smic.growth_after_2027", 0.3, "1/year", 0.0, 2.0,
   "facts.md (d): SemiAnalysis 45 k -> 60 k -> 80 k wpm (2025-27), about 30%/year; after 2027 NOT FOUND",
   "vendors", "Growth of SMIC advanced-node wafer starts after mid-2027.", (0.0, 0.4))
_p("smic.ai_share", 0.32, "0-1", 0.0, 1.0,
   "facts.md (d): Morgan Stanley ~7,000 wafers/month for Ascend of 22 k wpm 7 nm-and-below (0.32); the share "
   "for all AI accelerators is NOT FOUND (phones and other chips share the line: facts-v2 'SMIC allocation', "
   "https://www.tomshardware.com/tech-industry/huawei-chinas-only-hope-for-homegrown-ai-hardware-prioritizes-ascend-ai-processors-over-kirin-smartphone-chips)",
   "vendors", "Share of SMIC's advanced-node wafers that go to AI accelerators (Huawei first, then the others).",
   (0.2, 0.5))
_p("smic.cards_per_wafer_other", 15.6, "cards/wafer", 1.0, 200.0,
   "facts.md (d): 78 gross 910B-size dies per wafer (Morgan Stanley); facts-v2 'Cambricon': 590/690 yield ~20% "
   "on SMIC N+2 (Bloomberg, https://www.techradar.com/pro/this-chinese-chip-giant-is-boosting-production-to-try-and-take-on-nvidia-but-how-will-huawei-feel): 78 x 0.2",
   "vendors", "Good cards per SMIC wafer for the non-Huawei domestic vendors.", (15.6, 31.2))
_p("maturity.learning_rate", 0.25, "per M cards", 0.0, 5.0,
   "facts.md (software): CANN open-sourcing, torch_npu; porting easy at PyTorch level (DeepSeek); rate NOT FOUND",
   "vendors", "Growth of a vendor's ecosystem maturity per million cards installed (towards 1). Not fitted: "
   "2022-2025 do not identify it (the fit ran to the prior's floor and the loss moved by 2 over the whole "
   "prior), so it keeps its prior and its uncertainty is carried into the bands.",
   (0.05, 1.0))
for _v, _m in (("Nvidia", 1.0), ("AMD", 0.2), ("Huawei", 0.35), ("Cambricon", 0.25), ("T-Head", 0.3),
               ("Kunlunxin", 0.3), ("Hygon", 0.4), ("OtherDomestic", 0.2)):
    _p(f"maturity.{_v}", _m, "0-1", 0.0, 1.0,
       "CUDA = 1 by definition (MODEL.md); others NOT FOUND: stated assumption", "vendors",
       f"{_v}'s ecosystem maturity in 2022-01.")

# ---------------------------------------------------------------- energy, money
_p("energy.price_rmb_kwh", 0.8, "RMB/kWh", 0.0, 5.0,
   "facts.md (a): with subsidies of up to 50% the power price falls to about RMB 0.4/kWh (FT, Nov 2025)",
   "China", "Data-centre electricity price before subsidies.")
_p("energy.domestic_penalty", 1.4, "x", 1.0, 3.0, f"{CAL}: domestic chips need 30-50% more electricity per token "
   "than H20 (FT)", "vendors", "Energy per unit of work of domestic chips relative to the board-power figure.",
   (1.3, 1.5))
_p("energy.utilisation", 0.6, "share", 0.0, 1.0, NOT_FOUND, "buyers", "Average load of an installed card.")
_p("fx.rmb_per_usd", 7.28, "RMB/USD", 5.0, 10.0,
   "facts.md (d): RMB 150 bn ~ $20.6 bn (Reuters, ByteDance capex)", "market", "Exchange rate.")
_p("captive.transfer_price", 1.0, "x list price", 0.1, 2.0, NOT_FOUND, "vendors",
   "Price at which captive chips (T-Head, Kunlunxin) are booked when sold to their owner.", (0.6, 1.0))
_p("captive.owner_preference", 1.0, "utility", 0.0, 5.0, NOT_FOUND, "buyers",
   "Extra utility an owner (Alibaba, Baidu) gives its own chips.")
_p("levy.passthrough", 0.5, "share", 0.0, 1.0, NOT_FOUND, "vendors",
   "Share of a revenue levy or import duty passed to Chinese buyers in the price.")

# ---------------------------------------------------------------- grey market
_p("grey.per_year", 140000, "cards/year", 0, 1e6, f"{CAL}: CNAS median ~140k smuggled in 2024 (10k-400k)", "US",
   "Grey-market capacity for banned cards at zero enforcement (with grey.responsive: at the reference shortage "
   "grey.shortage_ref and the reference premium grey.premium).", (10000, 400000))
_p("grey.premium", 1.0, "x price", 0.0, 5.0,
   "facts.md (d): A100/H100 ~$20k in Shenzhen in 2023, ~2x list (Reuters)", "US",
   "Price premium of grey-market cards over list price (1.0 = double).")
_p("grey.enforcement", 0.0, "0-1", 0.0, 1.0,
   "facts.md (a),(d): DOJ cases, China customs checks from Oct 2025; strength NOT FOUND", "US",
   "Baseline enforcement against smuggling (events add each side's own level, US and China); grey capacity is "
   "scaled by (1 - baseline) x (1 - US level) x (1 - China level).")
_p("grey.responsive", True, "-", 0, 1,
   "MODEL.md 9.5; facts-v2.md 5: 'thousands smuggled' in 2023 (CNAS, https://menafn.com/1107729636/China-Gets-"
   "Banned-Nvidia-AI-Chips-Via-Gray-Markets), median ~140k in 2024 (CNAS, https://www.cnas.org/press/press-release/"
   "new-paper-warns-ai-chip-smuggling-to-china-may-undermine-u-s-national-security-interests), >US$1bn in the 3 "
   "months after the May 2025 H20 cut (FT, https://www.newsbytesapp.com/news/science/over-1b-in-banned-nvidia-chips-"
   "flow-into-china/story): volume rose with the shortage", "US",
   "Smuggled volume responds to last month's shortage and grey price premium (grey.per_year is then the volume "
   "at the reference shortage and premium); off: a fixed grey.per_year.", kind="bool")
_p("grey.shortage_ref", 0.1, "share", 0.01, 1.0,
   f"{NOT_FOUND}: CNAS (facts-v2.md 5, https://www.cnas.org/publications/reports/countering-ai-chip-smuggling-has-"
   "become-a-national-security-priority) puts smuggled chips at 6% (inference) to 10% (training) of the compute "
   "China acquired in 2024 (medians), a lower bound of the share that legal supply left unmet that year", "US",
   "Share of wanted compute left unmet (market, last month) at which smuggling runs at grey.per_year.",
   (0.05, 0.3))
_p("grey.shortage_elasticity", 1.0, "-", 0.0, 3.0,
   f"{NOT_FOUND}: volume rose from thousands (2023) to ~140k (2024) as the Oct-2023 rule opened a shortage "
   "(facts-v2.md 5, CNAS)", "US",
   "Elasticity of smuggled volume to the unmet share of wanted compute (1: proportional).", (0.5, 1.5))
_p("grey.premium_elasticity", 1.0, "-", 0.0, 5.0,
   f"{NOT_FOUND}: the grey premium fell from ~100% (A100/H100 singles, 2023) to ~50% over MSRP (H100 servers "
   "early 2024, 'readily available' by Jul 2024; B200 racks 2025) as supply grew (facts-v2.md 1, "
   "https://aait.co.jp/?p=45812 , https://soramidjourney.com/?p=5618 , https://www.newsbytesapp.com/news/science/"
   "over-1b-in-banned-nvidia-chips-flow-into-china/story)", "US",
   "Elasticity of smuggled volume to the grey price over its reference (1 + grey.premium) x H100 list.",
   (0.0, 2.0))
_p("grey.max_multiple", 3.0, "x", 1.0, 10.0,
   "facts-v2.md 5: CNAS 2024 range 10k to 'several hundred thousand' (median ~140k), i.e. up to about 3x the "
   "median (https://www.cnas.org/press/press-release/new-paper-warns-ai-chip-smuggling-to-china-may-undermine-u-s-"
   "national-security-interests)", "US",
   "Most smuggled volume as a multiple of grey.per_year however large the shortage (before enforcement).",
   (2.0, 5.0))
_p("grey.floor_exempt", True, "-", 0, 1,
   "MODEL.md 9.5 (smuggling is exempt from the procurement floors): smuggled cards break the rules anyway; "
   "facts.md (d): PRC-only models trained on smuggled Nvidia chips (CNAS)", "China",
   "Grey purchases are outside China's domestic floors (mandates, guidance): a floor applies to the buyer's "
   "legal purchases only; off: the grey card counts in the foreign nest the floor caps.", kind="bool")

# ---------------------------------------------------------------- offshore compute
_p("offshore.enabled", True, "-", 0, 1,
   "MODEL.md 9.5; facts-v2.md 4: ByteDance rents ~36,000 B200 via a Malaysian cloud partner "
   "(https://morningoverview.com/report-bytedance-taps-nvidia-ai-chips-via-malaysia-buildout), RM10bn Johor AI hub "
   "(https://www.lightreading.com/data-centers/johor-in-malaysia-consolidates-its-place-as-a-data-center-hotspot); "
   "facts-v2.md 5: engineers flew data to Malaysian data centres (WSJ, "
   "https://www.channelnewsasia.com/asia/malaysia-clamps-down-export-transit-us-ai-chips-china-5237081)", "buyers",
   "Buyers with an offshore footprint serve part of their unmet training compute abroad (rented or built "
   "there), at a cost; it is never a China shipment.", kind="bool")
_p("offshore.cost_multiple", 1.67, "x A100 price per AEC", 1.0, 5.0,
   "facts-v2.md 1: 8xA100 rental ~US$10/h in the US vs ~US$6/h in China (FT, https://technologiesandgadgets.com/"
   "technology/report-claims-renting-slower-nvidia-ai-gpus-is-cheaper-in-china-than-in-the-us-but-thats-thanks-to-"
   "some-rather-surprising-underhand-strategies)", "buyers",
   "Cost of a unit of compute served abroad relative to buying it at home (A100 list price per A100-equivalent); "
   "paid from the buyer's capex budget left after the month's purchases.", (1.2, 3.0))

_p("china.floor_per_buyer", True, "-", 0, 1,
   "MODEL.md 9.5 (floors apply per buyer over its whole purchase); facts.md (a): Tencent moved inference to "
   "lower-performance chips and kept high-end ones for training (Nov 2023); facts-v2.md 7: DeepSeek kept Nvidia for "
   "training and Ascend for inference (FT, https://news.omeganext.com/en/article/2025-08-14-huawei-chip-issues-"
   "delay-deepseeks-r2-llm-forces-nvidia-switch)", "China",
   "A buyer's domestic floor (mandate, guidance) binds its whole month's legal purchase, met from its lowest "
   "tiers first (low priority, inference, training, then frontier training); off: the floor binds every tier.",
   kind="bool")

_p("china.reacts_to_us", True, "-", 0, 1,
   "facts.md (a) 2024-12-03: the SAMR probe and the associations' warning are retaliation for the Dec-2024 US rules "
   "(Holland & Knight); Bloomberg, Sep 2024: Beijing's window guidance against Nvidia purchases is meant to prepare "
   "local firms 'for any potential additional restrictions from the US' (https://redcensor.com/?p=32366); FT, Aug "
   "2025: the H20 guidance was prompted by the US Commerce Secretary's remarks on the H20 export "
   "(https://moneymindsmeet.com/2025/08/21/china-turns-against-nvidias-ai-chip-after-insulting-howard-lutnick-remarks)"
   "; Reuters, Nov 2025: the state-funded data-centre rule is part of the self-sufficiency push amid the US "
   "restrictions (https://catenaa.com/industries/technology/china-bars-foreign-ai-chips-in-state-funded-data-centres)",
   "China",
   "China's measures marked as responses to US export controls (responds_to_us in the scenario) take effect only "
   "once a US rule that tightens has; off: they take effect on their own dates whatever the US does.",
   kind="bool")

# ---------------------------------------------------------------- regulators' reactive rules (off in history)
_p("us.reactive.enabled", False, "-", 0, 1, "Design (MODEL.md section 2): off in history", "US",
   "US lowers its export ceiling when domestic performance crosses a level.", kind="bool")
_p("us.reactive.trigger_perf", 2.0, "x A100", 0.0, 20.0, NOT_FOUND, "US",
   "Best shipping domestic training performance that triggers a US tightening.")
_p("us.reactive.ceiling_factor", 0.5, "x", 0.05, 1.0, NOT_FOUND, "US",
   "Factor applied to the export ceiling (TPP) when the US rule triggers.")
_p("china.reactive.enabled", False, "-", 0, 1, "Design (MODEL.md section 2): off in history", "China",
   "China raises its procurement mandate when domestic supply covers a share of demand.", kind="bool")
_p("china.reactive.coverage_trigger", 0.5, "share", 0.0, 1.0, NOT_FOUND, "China",
   "Share of demand covered by domestic deliveries that triggers a higher mandate.")
_p("china.reactive.mandate_step", 0.2, "share", 0.0, 1.0, NOT_FOUND, "China",
   "Increase of the domestic floor each time the rule triggers (at most once a year): the state-linked "
   "mandate until it is 100%, then the purchase guidance for all buyers.")


def _product_params() -> list[Param]:
    out = []
    fields = {
        "train": ("x A100", 0.01, 200.0, "training performance"),
        "infer": ("x A100", 0.01, 200.0, "inference performance"),
        "bf16": ("x A100", 0.01, 200.0, "dense BF16 peak (compute basis)"),
        "price_usd": ("$", 100.0, 300000.0, "list price, or the first price of its price path"),
        "power_w": ("W", 10.0, 6000.0, "board power"),
    }
    for pid, spec in load_catalogue().items():
        for f, (units, lo, hi, what) in fields.items():
            v = float(spec[f])
            rng = (0.5 * v, 1.5 * v) if "NOT FOUND" in spec["source"] else None
            out.append(Param(f"products.{pid}.{f}", v, units, lo, hi, spec["source"], "vendors",
                             f"{spec['name']}: {what}.", rng))
    return out


_CATALOGUE: dict[str, dict] | None = None


def load_catalogue() -> dict[str, dict]:
    global _CATALOGUE
    if _CATALOGUE is None:
        text = resources.files("sim.model.data").joinpath("products.toml").read_text(encoding="utf-8")
        _CATALOGUE = tomllib.loads(text)
    return _CATALOGUE


PARAMS: dict[str, Param] = {p.name: p for p in _P}
PARAMS.update({p.name: p for p in _product_params()})
CALIBRATED: tuple[str, ...] = tuple(p.name for p in _P if p.calibrate)


def defaults() -> dict[str, Any]:
    return {n: p.default for n, p in PARAMS.items()}


def resolve(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults with ``overrides`` applied (names and values checked)."""
    values = defaults()
    for k, v in (overrides or {}).items():
        p = PARAMS.get(k)
        if p is None:
            raise KeyError(f"unknown parameter {k!r}")
        reason = p.check(v)
        if reason:
            raise ValueError(f"parameter {k!r}: {reason}")
        values[k] = v
    return values


def table() -> list[dict[str, Any]]:
    """Rows for `describe`, the docs and the app's Model page."""
    return [
        {"name": p.name, "value": p.default, "units": p.units, "bounds": f"[{p.lo:g}, {p.hi:g}]",
         "range": f"[{p.prior[0]:g}, {p.prior[1]:g}]", "group": p.group, "calibrated": p.calibrate,
         "help": p.help, "source": p.source}
        for p in PARAMS.values()
    ]

