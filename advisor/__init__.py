"""advisor: will this model run on this machine, how, and if not, what would make it run?"""

__version__ = "0.1.0"
