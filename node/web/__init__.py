"""The web console: pages, static files, live updates (SSE), the OpenAPI document that
describes API and console together. May import http and below.
"""
