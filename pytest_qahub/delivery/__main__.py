"""``python -m pytest_qahub.delivery``: the delivery process (see `process`)."""

from .process import main

main()
