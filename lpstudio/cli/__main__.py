"""`python -m lpstudio.cli`."""

from . import main

main()
