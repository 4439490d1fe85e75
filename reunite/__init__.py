"""reunite: ranked, explained candidate lists that help reunite rescue-station residents with their families."""

__version__ = "0.1.0"
