"""The case store's aggregates (cases, accounts, audit, outcomes); :mod:`review.store` is
their one facade."""
