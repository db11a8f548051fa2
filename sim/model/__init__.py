"""The model layer: everything that decides what happens in a month, and nothing that runs or stores runs.

    ids.py           identifiers shared by outputs, scenarios, the app and checks
    calendar.py      months ("YYYY-MM") and their arithmetic
    seeds.py         the one seed derivation
    params.py        the parameter table (+ data/products.toml, the product catalogue)
    scenario.py      scenario files: schema, inheritance, validation
    rules.py         the rules in force and how events change them
    market.py        pure market maths (choice, clearing, supply, buyers' dynamics)
    agents.py        vendors, buyers and regulators (Mesa agents)
    market_model.py  MarketModel: the monthly schedule
"""
