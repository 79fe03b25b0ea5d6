"""Investigator case review: the case store, its migrations and the web app.

Importing this package does nothing: open a store with :func:`review.store.open_store`
and build the app with :func:`review.app.create_app`.
"""
