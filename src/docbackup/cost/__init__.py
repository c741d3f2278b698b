"""What the stack costs a month for a workload: a pure model over a dated price table.

The names the command line and its tests use, gathered from the modules that hold them.
"""

from docbackup.cost.model import Estimate, LineItem, Night, estimate
from docbackup.cost.prices import PRICES, PRICES_CHECKED, REGION, Price, Prices
from docbackup.cost.stack import STACK, StackShape
from docbackup.cost.workload import REFERENCE, Workload, parse_size

__all__ = [
    "PRICES",
    "PRICES_CHECKED",
    "REFERENCE",
    "REGION",
    "STACK",
    "Estimate",
    "LineItem",
    "Night",
    "Price",
    "Prices",
    "StackShape",
    "Workload",
    "estimate",
    "parse_size",
]
