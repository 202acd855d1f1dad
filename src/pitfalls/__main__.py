"""`python -m pitfalls` runs the command line."""

from pitfalls.cli import main

main()
