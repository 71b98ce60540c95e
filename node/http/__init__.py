"""The JSON API adapter: handlers, middleware, sessions, health and metrics, the API
description. May import the bus, the pipeline and below.
"""
