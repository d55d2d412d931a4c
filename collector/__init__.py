"""QAHub collector: the results API served by Falcon on Peewee models.

The pytest plugin reaches the collector only through :mod:`collector.embedded`.
"""

__version__ = "0.1.0"
