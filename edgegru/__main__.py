"""``python -m edgegru`` == the ``edgegru`` console script."""

from edgegru.cli import main

main()
